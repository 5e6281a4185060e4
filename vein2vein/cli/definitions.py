"""`vein2vein definitions`: list, show, validate and draw the product definitions."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.tree import Tree

from activities import KNOWN_ACTIVITIES
from definitions.lock import BUILT_IN_LOCK, DefinitionLock, lock_problems
from vein2vein.cli.common import CliError, catalog, command, definition, load_settings, out
from workflows.definition import validate
from workflows.diagram import to_mermaid
from workflows.language import Branch, Step, children

definitions_app = typer.Typer(no_args_is_help=True, help="Inspect and check product definitions.")


@definitions_app.command("list")
@command
def definitions_list() -> None:
    """Every product this deployment runs."""
    table = Table("product", "version", "title", "steps", "hash")
    for d in catalog().values():
        table.add_row(d.product, d.version, d.title, str(len(list(d.steps()))), d.content_hash[:12])
    out.print(table)


def _tree(node: Tree, step: Step) -> None:
    label = f"[bold]{step.name}[/bold] [dim]{step.kind}[/dim]"
    if step.description:
        label += f" - {step.description}"
    child = node.add(label)
    if isinstance(step, Branch):
        cases = [*step.cases.items(), *([("otherwise", step.otherwise)] if step.otherwise else [])]
        for case, steps in cases:
            branch_node = child.add(f"[italic]{step.by} {step.on} = {case}[/italic]")
            for inner in steps:
                _tree(branch_node, inner)
        return
    for inner in children(step):
        _tree(child, inner)


@definitions_app.command("show")
@command
def definitions_show(
    product: str, as_json: bool = typer.Option(False, "--json", help="The compiled definition.")
) -> None:
    """A definition's stages and steps (or its compiled JSON)."""
    d = definition(product)
    if as_json:
        out.print_json(d.model_dump_json())
        return
    root = Tree(
        f"[bold]{d.product}[/bold] {d.version} - {d.title} [dim]{d.content_hash[:12]}[/dim]"
    )
    for st in d.stages:
        node = root.add(f"[cyan]stage {st.name}[/cyan]")
        for step in st.steps:
            _tree(node, step)
    out.print(root)
    spec = Table("result", "limit")
    for name, limit in d.specification.items():
        spec.add_row(name, limit.describe())
    out.print(spec)


@definitions_app.command("validate")
@command
def definitions_validate(
    ref: str | None = typer.Argument(None, help="module:ATTR to validate; default: the catalog"),
) -> None:
    """Validate definitions; exit 1 listing every rule broken."""
    from workflows.definition import DefinitionError

    if ref is None:
        targets = list(catalog().values())
    else:
        import importlib

        module_name, _, attr = ref.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except DefinitionError as e:
            raise CliError(str(e).replace("\n", "; ")) from e
        except (ImportError, AttributeError) as e:
            raise CliError(f"cannot load {ref}: {e}") from e
        targets = list(value.values()) if isinstance(value, dict) else [value]
    problems = [str(v) for d in targets for v in validate(d, known_activities=KNOWN_ACTIVITIES)]
    if ref is None:  # the deployment's catalog is also held to its lock (change control)
        problems += lock_problems(targets, DefinitionLock.load(lock_file()))
    if problems:
        raise CliError("; ".join(problems))
    for d in targets:
        out.print(f"[green]valid[/green] {d.product} {d.version} {d.content_hash[:12]}")


def lock_file() -> Path:
    """The definition lock this deployment is held to."""
    return load_settings().definition_lock_path or BUILT_IN_LOCK


@definitions_app.command("lock")
@command
def definitions_lock() -> None:
    """Add every new product version of the catalog to the definition lock (after review);
    refuses, naming it, a locked version whose content changed: that needs a new version."""
    path = lock_file()
    before = DefinitionLock.load(path)
    after = before.with_versions(catalog().values())
    added = [
        f"{p} {v} {h[:12]}"
        for p, versions in after.products.items()
        for v, h in versions.items()
        if before.locked(p, v) is None
    ]
    if not added:
        out.print(f"the lock already holds every version ({path})")
        return
    after.save(path)
    for line in added:
        out.print(f"locked {line}", markup=False)


@definitions_app.command("diagram")
@command
def definitions_diagram(product: str) -> None:
    """A Mermaid flowchart of the definition."""
    sys.stdout.write(to_mermaid(definition(product)))


@definitions_app.command("example-event")
@command
def definitions_example_event(
    product: str,
    step: str | None = typer.Argument(None, help="The step; omitted: list the steps."),
    batch: str | None = typer.Option(
        None, "--batch", help="Fill in this batch's id and COI, ready to send."
    ),
) -> None:
    """The body of the report a step of PRODUCT waits for (or the steps that wait for one):
    send it with `vein2vein batch event BATCH -` or `POST /api/events`."""
    from vein2vein.examples import EXAMPLE_BATCH, example_event, reported_steps

    d = definition(product)
    if step is None:
        table = Table("step", "event type")
        for name, event in reported_steps(d):
            table.add_row(name, event)
        out.print(table)
        return
    coi = None
    if batch is not None:
        from vein2vein.cli.common import run, temporal_client
        from workflows.client import get_record

        async def read() -> str | None:
            return (await get_record(await temporal_client(), batch)).coi

        coi = run(read())
    try:
        body = example_event(d, step, batch_id=batch or EXAMPLE_BATCH, coi=coi)
    except KeyError:
        raise CliError(f"{product} has no step '{step}'") from None
    out.print_json(data=body)
