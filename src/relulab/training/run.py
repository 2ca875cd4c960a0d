"""A training run between two steps: its fixed set-up and the variables the loop updates.

:class:`Run` saves and loads itself (``state_dict()`` / ``load_state_dict()``, as the batch
streams do); :mod:`relulab.training.checkpoint` writes such a state to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from relulab.config import RunConfig
from relulab.data import BatchStream
from relulab.nets import rules as student_rules
from relulab.nets.networks import Net
from relulab.training import fused, optim
from relulab.training.checkpoint import CheckpointError, TrainState, flatten_state, unflatten_state
from relulab.training.epoch_grads import EpochGradNorms
from relulab.training.path import StepPath


@dataclass
class Run:
    """The loop's variables: fixed set-up above, what the loop updates below. Tensors carry the
    leading member axis S."""

    cfgs: list[RunConfig]
    seeds: list[int]
    teacher: Net
    eval_x: Tensor  # (S, N_eval, ...)
    eval_y: Tensor  # (S, N_eval, c)
    stream: BatchStream
    total: int  # steps to take
    opt: optim.Optimizer
    scale: float  # objective / MSE (loss_scale)
    path: StepPath  # which update a step takes (relulab.training.path)
    rules: student_rules.StudentRules | None  # applied after every update (None: no rule)
    student: Net
    opt_state: optim.FiniteState
    train_loss: Tensor  # (S,) mean over the last epoch (NaN when frozen)
    step: int = 0
    epoch: int = 0  # whole epochs done
    epoch_steps: int = 0  # steps done in the epoch under way
    loss_sum: Tensor | None = None  # (S,) running loss of the epoch under way
    last_batch: tuple[Tensor, Tensor] | None = None
    eval_loss: Tensor | None = None  # (S,) after the last epoch (NaN when frozen)
    rows: list[dict] = field(default_factory=list)
    all_alive: bool = True
    train_x: Tensor | None = None  # (S, N_train, ...)
    grad_norms: EpochGradNorms | None = None  # when cfg.stats.epoch_grad
    working: fused.WorkingSGD | None = None  # the fused step's parameter storage

    @property
    def cfg(self) -> RunConfig:
        return self.cfgs[0]

    @property
    def alive(self) -> Tensor:
        return self.opt_state.alive

    def state_dict(self) -> TrainState:
        """Everything the loop needs to continue bit-identically: the student (parameters and
        BatchNorm statistics), the optimizer state, the stream's generator states, the running
        losses, the rows so far and the running gradient norms."""
        st = TrainState(self.step, self.epoch, self.epoch_steps)
        s = self.student
        st.put("student", {f"p{i}": t for i, t in enumerate(s.parameters())}
               | {f"bn_mean{i}": t for i, t in enumerate(s.bn_mean)}
               | {f"bn_var{i}": t for i, t in enumerate(s.bn_var)})
        opt_tensors, opt_other = flatten_state(self.opt_state)
        st.put("opt", opt_tensors)
        st.put("stream", self.stream.state_dict())
        loop = {"train_loss": self.train_loss}
        loop |= {"loss_sum": self.loss_sum} if self.loss_sum is not None else {}
        loop |= {"eval_loss": self.eval_loss} if self.eval_loss is not None else {}
        norms = self.grad_norms
        if norms is not None and norms.total is not None:
            loop["grad_total"] = norms.total
        st.put("loop", loop)
        st.meta.update(opt_other=opt_other, rows=self.rows, all_alive=self.all_alive,
                       grad_steps=0 if norms is None else norms.steps)
        return st

    def load_state_dict(self, st: TrainState) -> None:
        """Continue from ``st`` (this run freshly set up from the same configs and seeds)."""
        if not st.step <= self.total:
            raise CheckpointError(f"checkpoint is at step {st.step}, past this run's "
                                  f"{self.total}")
        self._load_student(st.sub("student"))
        self.opt_state = unflatten_state(self.opt_state, st.sub("opt"),
                                         st.meta.get("opt_other", []))
        self.stream.load_state_dict(st.sub("stream"))
        loop = {k: v.to(self.eval_x.device, self.eval_x.dtype)
                for k, v in st.sub("loop").items()}
        self.train_loss, self.loss_sum = loop["train_loss"], loop.get("loss_sum")
        self.eval_loss = loop.get("eval_loss")
        if self.grad_norms is not None:
            self.grad_norms.total = loop.get("grad_total")
            self.grad_norms.steps = int(st.meta.get("grad_steps", 0))
        self.step, self.epoch, self.epoch_steps = st.step, st.epoch, st.epoch_steps
        self.rows = list(st.meta.get("rows", []))
        self.all_alive = bool(st.meta.get("all_alive", True))
        self.working = None  # the fused step rebuilds its storage from the new student

    def _load_student(self, tensors: dict[str, Tensor]) -> None:
        old = self.student.parameters()
        params = [tensors.get(f"p{i}") for i in range(len(old))]
        if any(p is None or p.shape != q.shape for p, q in zip(params, old, strict=True)):
            raise CheckpointError("checkpoint student does not fit this run's shapes")
        dev = self.eval_x.device
        self.student = self.student.with_parameters(
            [p.to(dev, q.dtype) for p, q in zip(params, old, strict=True)])
        for name in ("bn_mean", "bn_var"):
            for i, t in enumerate(getattr(self.student, name)):
                t.copy_(tensors[f"{name}{i}"])
