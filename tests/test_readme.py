"""The README's definition example compiles as written, with public names only."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from workflows import CompiledDefinition

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_writing_a_definition_example_compiles(tmp_path: Path) -> None:
    section = README.read_text().split("## Writing a definition", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the section has no python example"
    source = code.group(1)
    imported = re.findall(r"^from (\S+) import", source, re.M)
    assert set(imported) <= {"workflows", "collections.abc"}, imported
    path = tmp_path / "readme_product.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("readme_product", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    product = module.MY_PRODUCT
    assert isinstance(product, CompiledDefinition)
    assert {s.kind for _, s in product.steps()} >= {"branch", "end", "compute", "hold"}
