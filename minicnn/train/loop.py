"""The training loop shared by every experiment: one or several classification tasks.

``Trainer(model, tasks, config, out_dir, weighting)`` trains ``model`` (which returns
one logits Tensor, or a tuple with one per task) with SGD (momentum, weight decay)
and a per-step learning-rate schedule; a task weighting's own parameters (p and q,
or log sigma^2) get a second SGD without weight decay. ``fit(train, val, test)``
then, every epoch:

1. trains on the loader's batches for that epoch, stopping with
   :class:`~minicnn.train.step.NonFiniteLossError` (naming the step) on a NaN/inf loss;
2. evaluates the validation and test loaders (mean cross-entropy and accuracy per task);
3. keeps the model with the best mean validation accuracy in ``best.npz``;
4. writes ``checkpoint.npz`` (atomically), ``log.csv`` and the learning-curve figures.

At the end it reports, for the final and the best model, test accuracy, per-class
recall, macro recall and confusion matrices (``results.json``, ``confusion.json``,
PNGs), with the majority-class baseline of each task.

Exact resumption: an epoch's randomness depends only on (seed, epoch): the loader's
order and augmentation (``set_epoch``) and every Dropout module's generator, reseeded
at the start of each epoch. A run resumed from its last checkpoint therefore ends with
the same weights, bit for bit, as one never interrupted.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import backend, nn
from ..functions.loss import accuracy, cross_entropy
from ..optim import SGD, CosineDecay, ExponentialDecay, Schedule, StepDecay
from ..parallel import DataParallel
from ..progress import ProgressArg, make_progress
from ..serialization import load_arrays, save_arrays
from ..tensor import Tensor, no_grad
from . import figures, report
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Task, TrainConfig, check_tasks
from .step import NonFiniteLossError, check_finite
from .weighting import TaskWeighting

CHECKPOINT_FORMAT = 1


class Trainer:
    """Train a model on one or several classification tasks and record everything.

    Args:
        model: a Module returning logits (N, K) or a tuple of them, one per task, in task order.
        tasks: the tasks, in the order of the model's outputs.
        config: optimiser, schedule and run settings.
        out_dir: the run folder (created); holds the checkpoint, logs, figures and results.
        weighting: how several task losses become one (None = their sum).
        title: a short name for figure titles.
        progress: True for a progress bar per epoch on stderr, or a ``(done, total)`` callback.
        on_epoch_end: called with each epoch's log row after its checkpoint is written.
    """

    def __init__(
        self,
        model: nn.Module,
        tasks: Sequence[Task],
        config: TrainConfig,
        out_dir: str | Path,
        weighting: TaskWeighting | None = None,
        title: str = "",
        progress: ProgressArg = True,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.tasks = check_tasks(tasks)
        self.config = config
        self.device = backend.normalize_device(config.device)
        self.model = model.to(self.device)
        self.weighting = weighting.to(self.device) if weighting is not None else None
        if weighting is not None and list(weighting.task_names) != [t.name for t in self.tasks]:
            raise ValueError(f"weighting is for tasks {weighting.task_names}, trainer has {[t.name for t in self.tasks]}")
        self.out_dir = Path(out_dir)
        self.title = title
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        self.optimizer = SGD(model.parameters(), config.lr, config.momentum, config.weight_decay)
        weighting_params = weighting.parameters() if weighting is not None else []
        self.weighting_optimizer = (
            SGD(weighting_params, config.weighting_lr or config.lr, config.momentum, 0.0) if weighting_params else None
        )
        self.schedules: dict[str, Schedule] = {}
        threads = getattr(config, "threads", 1)
        self.parallel = (DataParallel([self.model] + ([self.weighting] if self.weighting is not None else []), threads)
                         if threads > 1 and self.device == "cpu" else None)
        self._class_weights = {
            t.name: None if t.class_weights is None else backend.to_device(np.asarray(t.class_weights, np.float32), self.device)
            for t in self.tasks
        }
        self.epoch = 0  # epochs completed
        self.step = 0  # optimiser steps taken
        self.history: list[dict[str, Any]] = []
        self.step_log: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.npz"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.npz"

    # ------------------------------------------------------------ the run
    def fit(self, train: Any, val: Any, test: Any, resume: bool = False) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs (continuing a checkpoint when ``resume``) and report.

        Args:
            train, val, test: loaders (such as facestack.data.BatchLoader) whose batches have
                ``.x`` and ``.labels[task.label]``; ``train`` needs ``set_epoch``, ``labels`` and
                ``indices`` (for the majority baseline); ``val`` and ``test`` should not shuffle.
            resume: continue from ``out_dir/checkpoint.npz`` (an error if it is missing).
        Returns:
            The results written to ``results.json``.
        Raises:
            FileExistsError: ``out_dir`` already holds a checkpoint and ``resume`` is False.
            NonFiniteLossError: the loss became NaN/inf; logs and figures up to then are written.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        steps_per_epoch = len(train)
        if self.config.max_steps_per_epoch is not None:
            steps_per_epoch = min(steps_per_epoch, self.config.max_steps_per_epoch)
        if steps_per_epoch < 1:
            raise ValueError("the training loader yields no batches")
        self._build_schedules(steps_per_epoch)
        if resume:
            self.load_checkpoint()
        elif self.checkpoint_path.exists():
            raise FileExistsError(f"{self.checkpoint_path} exists: resume it, or train into another folder")
        baselines = self._baselines(train, test)
        epoch = self.epoch
        try:
            for epoch in range(self.epoch, self.config.epochs):
                if self.patience_exhausted():  # a resumed run that had already stopped early
                    break
                row = self._train_epoch(train, epoch, steps_per_epoch)
                evaluate_started = time.perf_counter()
                for split, loader in (("val", val), ("test", test)):
                    for task, metrics in self.evaluate(loader).items():
                        row[f"{split}_{task}_loss"] = metrics["loss"]
                        row[f"{split}_{task}_acc"] = metrics["acc"]
                row["eval_seconds"] = time.perf_counter() - evaluate_started
                row["epoch_seconds"] = row["train_seconds"] + row["eval_seconds"]
                row.update(self.weighting.values() if self.weighting is not None else {})
                self.history.append(row)
                self.epoch = epoch + 1
                self._keep_if_best(row)
                self.save_checkpoint()
                # _finish draws the last epoch's figures
                last = self.epoch == self.config.epochs or self.patience_exhausted()
                self._write_logs(baselines, draw=not last and self.epoch % self.config.figures_every == 0)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(row)
                if last:
                    break
        except NonFiniteLossError as error:
            error.add_note(f"stopped in epoch {epoch + 1}; the last checkpoint is of epoch {self.epoch}")
            self._write_logs(baselines)
            report.write_json({"stopped": str(error), "step": error.step, "epoch": epoch + 1,
                               "epochs_completed": self.epoch}, self.out_dir / "results.json")
            raise
        return self._finish(test, baselines)

    def patience_exhausted(self) -> bool:
        """Whether ``config.patience`` epochs have passed since the best validation score."""
        patience = self.config.patience
        return patience is not None and self.best is not None and self.epoch - self.best["epoch"] >= patience

    def _build_schedules(self, steps_per_epoch: int) -> None:
        self.schedules = {"schedule": self._schedule(self.optimizer, steps_per_epoch)}
        if self.weighting_optimizer is not None:
            self.schedules["weighting_schedule"] = self._schedule(self.weighting_optimizer, steps_per_epoch)

    def _schedule(self, optimizer: SGD, steps_per_epoch: int) -> Schedule:
        c = self.config
        schedule: Schedule
        if c.schedule == "exponential":
            schedule = ExponentialDecay(optimizer, c.decay_rate, c.decay_steps, c.staircase)
        elif c.schedule == "cosine":
            schedule = CosineDecay(optimizer, c.epochs * steps_per_epoch, c.min_lr_factor, c.warmup_steps)
        else:
            schedule = StepDecay(optimizer, step_size=1, gamma=1.0)  # constant: 1 ** t
        schedule.load_state_dict(schedule.state_dict())  # sets the first step's rate (warm-up starts below lr)
        return schedule

    # ----------------------------------------------------------- training
    def _reseed_dropout(self, epoch: int) -> None:
        """Give every Dropout module a generator seeded by (seed, epoch, its index)."""
        dropouts = [m for m in self.model.modules() if isinstance(m, nn.Dropout)]
        for index, module in enumerate(dropouts):
            module.rng = np.random.default_rng([self.config.seed, epoch, 2, index])
        if self.device == "gpu" and dropouts:  # CuPy's dropout draws from CuPy's global generator
            import cupy

            cupy.random.seed(int(np.random.default_rng([self.config.seed, epoch, 3]).integers(2**32)))

    def _outputs(self, x: Any, model: nn.Module | None = None) -> tuple[Tensor, ...]:
        outputs = (model or self.model)(Tensor(x))
        outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
        if len(outputs) != len(self.tasks):
            raise ValueError(f"the model returned {len(outputs)} outputs for {len(self.tasks)} tasks")
        return outputs

    def _forward_backward(self, model: nn.Module, weighting: TaskWeighting | None, batch: Any, part: slice,
                          share: float) -> tuple[float, list[float], list[float]]:
        """Forward and backward of ``model`` on the rows ``part`` of ``batch``, the loss scaled by ``share``.

        Returns the slice's objective, plain cross-entropy per task and accuracy per task
        (each already multiplied by ``share``, so the slices' values add up to the batch's).
        """
        outputs = self._outputs(batch.x[part], model)
        losses = []
        for task, logits in zip(self.tasks, outputs):
            loss = cross_entropy(logits, batch.labels[task.label][part], self._class_weights[task.name])
            losses.append(loss * task.loss_scale if task.loss_scale != 1.0 else loss)
        if weighting is not None:
            objective = weighting(losses)
        else:
            objective = losses[0]
            for extra in losses[1:]:
                objective = objective + extra
        value = float(objective.item())
        (objective * share if share != 1.0 else objective).backward()
        plain, accs = [], []
        with no_grad():
            for task, logits, loss in zip(self.tasks, outputs, losses):
                y = batch.labels[task.label][part]
                unweighted = task.class_weights is None and task.loss_scale == 1.0
                plain.append(share * float(loss.item() if unweighted else cross_entropy(logits.data, y).item()))
                accs.append(share * accuracy(logits, y))
        return share * value, plain, accs

    def _train_step(self, batch: Any) -> tuple[float, list[float], list[float]]:
        """One update on ``batch``: (objective, plain cross-entropy per task, accuracy per task).

        With ``config.threads > 1`` (CPU) the batch is split over threads, one model replica
        each (:class:`minicnn.parallel.DataParallel`); the gradients are summed before the update.
        """
        self.optimizer.zero_grad()
        if self.weighting_optimizer is not None:
            self.weighting_optimizer.zero_grad()
        everything = slice(None)
        if self.parallel is None:
            parts = [self._forward_backward(self.model, self.weighting, batch, everything, 1.0)]
        else:
            parts = self.parallel.run(
                lambda replicas, part, share: self._forward_backward(
                    replicas[0], replicas[1] if len(replicas) > 1 else None, batch, part, share),
                len(batch.x))
        value = check_finite(sum(p[0] for p in parts), self.step)  # before the update: weights stay as they were
        if all(p.grad is None for p in self.optimizer.params):
            raise RuntimeError(f"step {self.step}: the backward pass left no gradient on any parameter "
                               "(was graph recording turned off, e.g. by an unclosed no_grad?)")
        self.optimizer.step()
        if self.weighting_optimizer is not None:
            self.weighting_optimizer.step()
        for schedule in self.schedules.values():
            schedule.step()
        self.step += 1
        plain = [sum(p[1][i] for p in parts) for i in range(len(self.tasks))]
        accs = [sum(p[2][i] for p in parts) for i in range(len(self.tasks))]
        return value, plain, accs

    def _train_epoch(self, loader: Any, epoch: int, steps: int) -> dict[str, Any]:
        loader.set_epoch(epoch)
        self._reseed_dropout(epoch)
        self.model.train()
        lr_at_start = self.optimizer.lr
        objective_sum, seen = 0.0, 0
        loss_sums = np.zeros(len(self.tasks))
        correct_sums = np.zeros(len(self.tasks))
        bar = make_progress(self.progress, steps, desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="step")
        started = time.perf_counter()
        batches = iter(loader)
        try:
            for _ in range(steps):
                batch = next(batches)
                n = len(batch.rows)
                objective, plain, accs = self._train_step(batch)
                objective_sum += objective * n
                loss_sums += np.asarray(plain) * n
                correct_sums += np.asarray(accs) * n
                seen += n
                index = self.step - 1  # the step just taken, numbered from 0 as in NonFiniteLossError
                if index < self.config.log_first or index % self.config.log_every == 0:
                    self._log_step(index, epoch, objective, plain)
                bar.set_postfix(self._postfix(objective_sum / seen, correct_sums / seen))
                bar.update()
        finally:
            bar.close()
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # stops the loader's prefetch thread when we leave early
        seconds = time.perf_counter() - started
        row: dict[str, Any] = {"epoch": epoch + 1, "steps": self.step, "lr": lr_at_start,
                               "train_seconds": seconds, "seconds_per_step": seconds / steps,
                               "train_objective": objective_sum / seen}
        for task, loss_sum, correct in zip(self.tasks, loss_sums, correct_sums):
            row[f"train_{task.name}_loss"] = float(loss_sum / seen)
            row[f"train_{task.name}_acc"] = float(correct / seen)
        return row

    def _postfix(self, objective: float, accs: np.ndarray) -> str:
        parts = [f"loss {objective:.4f}"] + [f"{t.name} {a:.3f}" for t, a in zip(self.tasks, accs)]
        return " ".join(parts)

    def _log_step(self, index: int, epoch: int, objective: float, plain: list[float]) -> None:
        """Record step ``index``'s batch losses and the weighting's values after its update."""
        entry: dict[str, Any] = {"step": index, "epoch": epoch + 1, "objective": objective}
        entry.update({f"{t.name}_loss": v for t, v in zip(self.tasks, plain)})
        entry.update(self.weighting.values() if self.weighting is not None else {})
        self.step_log.append(entry)

    # --------------------------------------------------------- evaluation
    def evaluate(self, loader: Any) -> dict[str, dict[str, Any]]:
        """Mean cross-entropy, accuracy, predictions and labels per task over ``loader`` (eval mode, no graph).

        With ``config.threads > 1`` (CPU) each batch is split over the training's model
        replicas, one slice per thread (:meth:`minicnn.parallel.DataParallel.map`): the
        metrics equal the one-thread evaluation's up to float rounding.

        Returns:
            ``{task: {"loss": float, "acc": float, "pred": (N,) int64, "true": (N,) int64}}``.
        """
        self.model.eval()
        loss_sums = np.zeros(len(self.tasks))
        preds: list[list[np.ndarray]] = [[] for _ in self.tasks]
        trues: list[list[np.ndarray]] = [[] for _ in self.tasks]
        total = 0
        try:
            with no_grad():
                for batch in loader:
                    if self.parallel is None:
                        parts = [self._evaluate_part(self.model, batch, slice(None))]
                    else:
                        parts = self.parallel.map(lambda replicas, part: self._evaluate_part(replicas[0], batch, part),
                                                  len(batch.x))
                    for n, losses, part_preds, part_trues in parts:  # in slice order
                        loss_sums += losses
                        for i in range(len(self.tasks)):
                            preds[i].append(part_preds[i])
                            trues[i].append(part_trues[i])
                        total += n
        finally:
            self.model.train()
        if total == 0:
            raise ValueError("evaluate: the loader yielded no batches")
        out = {}
        for i, task in enumerate(self.tasks):
            pred, true = np.concatenate(preds[i]), np.concatenate(trues[i])
            out[task.name] = {"loss": float(loss_sums[i] / total), "acc": float((pred == true).mean()),
                              "pred": pred, "true": true}
        return out

    def _evaluate_part(self, model: nn.Module, batch: Any, part: slice
                       ) -> tuple[int, np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """``model`` on the rows ``part`` of ``batch``: (rows, summed cross-entropy per task, predictions, labels)."""
        outputs = self._outputs(batch.x[part], model)
        n = int(outputs[0].shape[0])
        losses = np.zeros(len(self.tasks))
        preds, trues = [], []
        for i, (task, logits) in enumerate(zip(self.tasks, outputs)):
            y = batch.labels[task.label][part]
            losses[i] = float(cross_entropy(logits, y).item()) * n
            preds.append(backend.to_numpy(logits.data.argmax(axis=1)).astype(np.int64))
            trues.append(backend.to_numpy(y).astype(np.int64))
        return n, losses, preds, trues

    def _keep_if_best(self, row: dict[str, Any]) -> None:
        """Save the model as best.npz when its mean validation accuracy beats the best so far."""
        val = {t.name: row[f"val_{t.name}_acc"] for t in self.tasks}
        score = float(np.mean(list(val.values())))
        if self.best is None or score > self.best["score"]:
            save_arrays(self.model.state_dict(), self.best_path)
            self.best = {"epoch": row["epoch"], "criterion": "mean validation accuracy over tasks",
                         "score": score, "val_acc": val}
            report.write_json(self.best, self.out_dir / "best.json")

    # ------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        """Write every state needed to resume after the epochs completed so far."""
        states: dict[str, Any] = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        states.update({name: s.state_dict() for name, s in self.schedules.items()})
        if self.weighting is not None:
            states["weighting"] = self.weighting.state_dict()
        if self.weighting_optimizer is not None:
            states["weighting_optimizer"] = self.weighting_optimizer.state_dict()
        meta = {"format": CHECKPOINT_FORMAT, "epoch": self.epoch, "step": self.step, "best": self.best,
                "history": self.history, "step_log": self.step_log,
                "tasks": [t.to_dict() for t in self.tasks], "config": self.config.to_dict()}
        return save_checkpoint(self.checkpoint_path, states, meta)

    def load_checkpoint(self) -> None:
        """Restore the model, optimisers, schedules, weighting and bookkeeping from ``checkpoint.npz``."""
        if not self.checkpoint_path.is_file():
            raise FileNotFoundError(f"nothing to resume: no checkpoint at {self.checkpoint_path}")
        states, meta = load_checkpoint(self.checkpoint_path)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{self.checkpoint_path}: checkpoint format {meta.get('format')}, expected {CHECKPOINT_FORMAT}")
        saved = [(t["name"], len(t["class_names"])) for t in meta["tasks"]]
        ours = [(t.name, t.classes) for t in self.tasks]
        if saved != ours:
            raise ValueError(f"{self.checkpoint_path} was written for tasks {saved}, this trainer has {ours}")
        self.model.load_state_dict(states["model"])
        self.optimizer.load_state_dict(states["optimizer"])
        if self.weighting is not None:
            self.weighting.load_state_dict(states.get("weighting", {}))
        if self.weighting_optimizer is not None:
            self.weighting_optimizer.load_state_dict(states["weighting_optimizer"])
        for name, schedule in self.schedules.items():
            schedule.load_state_dict(states[name])
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self.best, self.history, self.step_log = meta["best"], meta["history"], meta["step_log"]

    # ------------------------------------------------------------ records
    def _baselines(self, train: Any, test: Any) -> dict[str, Any]:
        """The majority class of each task's training labels, scored on the test labels."""
        out = {}
        test_rows = np.asarray(test.indices)
        train_rows = np.asarray(train.indices)
        for task in self.tasks:
            labels = np.asarray(train.labels[task.label])
            out[task.name] = report.majority_baseline(labels[train_rows], np.asarray(test.labels[task.label])[test_rows],
                                                      task.class_names)
        return out

    def _write_logs(self, baselines: dict[str, Any], draw: bool = True) -> None:
        """log.csv, steps.csv and (when ``draw``) the figures of the history so far."""
        if self.history:
            report.write_csv(self.history, self.out_dir / "log.csv")
        if self.step_log:
            report.write_csv(self.step_log, self.out_dir / "steps.csv")
        if not (draw and self.config.figures):
            return
        title = f"{self.title}: " if self.title else ""
        best_epoch = self.best["epoch"] if self.best else None
        for task in self.tasks:
            if self.history:
                figures.plot_learning_curves(self.history, task.name, f"{title}{task.name}",
                                             self.out_dir / f"curves-{task.name}.png", best_epoch,
                                             baselines[task.name]["test_accuracy"])
        if self.step_log:
            loss_keys = ["objective"] + [f"{t.name}_loss" for t in self.tasks]
            figures.plot_step_losses(self.step_log, loss_keys, f"{title}batch losses", self.out_dir / "losses.png")
        if self.weighting is not None and len(self.tasks) > 1 and self.step_log:
            keys = list(self.weighting.values())
            if keys:
                figures.plot_weighting(self.step_log, keys, f"{title}task weighting ({type(self.weighting).__name__})",
                                       self.out_dir / "weighting.png")

    def _finish(self, test: Any, baselines: dict[str, Any]) -> dict[str, Any]:
        """Test metrics of the final and the best model, confusion matrices, results.json."""
        final_weights = {name: p.data.copy() for name, p in self.model.named_parameters()}
        save_arrays(self.model.state_dict(), self.out_dir / "model.npz")
        evaluated = {"final": self.evaluate(test)}
        if self.best is not None and self.best_path.is_file():
            self.model.load_state_dict(load_arrays(self.best_path))
            evaluated["best"] = self.evaluate(test)
            self.model.load_state_dict(final_weights)
        results: dict[str, Any] = {"title": self.title, "epochs_completed": self.epoch, "steps": self.step,
                                   "stopped_early": self.epoch < self.config.epochs,
                                   "tasks": [t.to_dict() for t in self.tasks], "baseline": baselines}
        confusion: dict[str, Any] = {}
        for which, per_task in evaluated.items():
            epoch = self.epoch if which == "final" else self.best["epoch"]
            results[which] = {"epoch": epoch}
            confusion[which] = {}
            for task in self.tasks:
                matrix = report.confusion_matrix(per_task[task.name]["true"], per_task[task.name]["pred"], task.classes)
                summary = report.classification_summary(matrix, task.class_names)
                summary["test_loss"] = per_task[task.name]["loss"]
                results[which][task.name] = summary
                confusion[which][task.name] = {"class_names": list(task.class_names), "matrix": matrix.tolist()}
                if self.config.figures:
                    figures.plot_confusion(matrix, task.class_names,
                                           f"{self.title + ': ' if self.title else ''}{task.name}, {which} model "
                                           f"(epoch {epoch}), test accuracy {summary['accuracy']:.3f}",
                                           self.out_dir / f"confusion-{which}-{task.name}.png")
        if self.history:
            seconds = [r["seconds_per_step"] for r in self.history]
            results["seconds_per_step_median"] = float(np.median(seconds))
        if self.weighting is not None:
            results["weighting"] = self.weighting.values()
        report.write_json(confusion, self.out_dir / "confusion.json")
        report.write_json(results, self.out_dir / "results.json")
        self._write_logs(baselines)
        return results
