"""The durable engine: one thin workflow class over small modules, one job each.

- `workflow`     the workflow class: start or resume, walk the stages, route messages
- `state`        a batch's state; the one place deciding what survives continue-as-new
- `runner`       the step lifecycle shared by every kind (record, dispatch, judge, deviate)
- `steps/`       one module per step kind, and the registry that refuses a kind without one
- `calls`        activities (policy from `workflows.policy`) and waits that honour abandonment
- `journal`      the one place that writes an audit event; derived status and waits
- `projection`   the audit journal into the ledger, exactly once, in order
- `search`       search attributes
- `failures`     deviations, dispositions and the judgement of fresh results
- `compensation` what undoes each step, run in reverse on abandonment
- `continuation` continue-as-new for long follow-up
- `messages`     reports, recalls and signed decisions: validators and handlers
"""

from workflows.engine.search import SEARCH_ATTRIBUTES
from workflows.engine.workflow import BatchInterpreter

__all__ = ["SEARCH_ATTRIBUTES", "BatchInterpreter"]
