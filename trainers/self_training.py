"""BOND-style self-training of a token classifier on generated (noisy) labels (paper §3.4).

Stage 1 trains the student on the generated tags for ``t_early`` optimizer steps. Then a
teacher (a frozen copy of the student) re-labels each batch with soft labels: its probabilities
are squared, divided by their sum over the batch's tokens (per class), and renormalised per
token. The student is trained with KL(teacher || student) on the tokens whose soft label's top
probability reaches ``confidence_threshold``; every ``t_update`` steps the teacher becomes a copy
of the student again. The student with the best validation F1 is kept (the last one when there
is no validation set).

Runs under Accelerate: one process, or ``accelerate launch`` with several (gloo on CPU).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gener.errors import GenerError
from gener.models import resolve_model_path
from trainers.data import (
    IGNORE,
    LengthGroupedBatches,
    PadCollator,
    encode_training_examples,
    entity_type,
    label_names,
    load_tokenizer,
)
from trainers.model_card import INFO_NAME, write_model_card

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LOG_NAME = "train_log.jsonl"
# The pipeline shipped with a model that has rules on predictions, and its task name.
PIPELINE_FILE = "gener_pipeline.py"
PIPELINE_TASK = "gener-token-classification"


@dataclass
class TrainConfig:
    """Hyperparameters and bookkeeping of one training run (steps are optimizer steps)."""

    t_early: int = 900
    t_update: int = 300
    max_steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 0
    confidence_threshold: float = 0.9
    # Weight of O tags in the supervised stage's loss. Generated labels miss entities that
    # the dictionary lacks, so an O tag is less certain than an entity tag; below 1 the
    # student learns less "not an entity" from them. Self-training uses the teacher instead.
    o_weight: float = 1.0
    # Weight each entity tag in the supervised stage's loss by the square root of how much
    # rarer it is than the most frequent entity tag (at most 10): a label with few mentions
    # (the demo's Disease: 46 against LOC's 857) is learnt beside a frequent one.
    balance_labels: bool = True
    # Choose the O bias of the kept model on the validation split (trainers.calibration).
    calibrate: bool = False
    grad_accum: int = 1
    mixed_precision: str = "no"
    eval_every: int = 100  # also the checkpoint period (for resuming)
    max_length: int = 128
    eval_batch_size: int = 64
    resume: bool = False
    progress: bool = True
    recipe: str | None = None  # for the model card
    data_version: str | None = None
    validation_name: str | None = None
    # Entity types whose entities have a capital letter (the recipe's rule 3): predictions of
    # them without one are dropped, in validation and by the saved model's pipeline.
    capitalized_types: list[str] = field(default_factory=list)
    # Entity types that are never a lowercase single common word (the recipe's rule 9):
    # such predictions are dropped in the same places.
    rule9_types: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise GenerError on impossible values."""
        for name in ("max_steps", "batch_size", "grad_accum", "eval_every", "max_length",
                     "t_update", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise GenerError(f"{name} must be a positive integer")
        if self.t_early < 0:
            raise GenerError("t_early must not be negative")
        if not 0 <= self.confidence_threshold < 1:
            raise GenerError("confidence_threshold must be in [0, 1)")
        if not 0 < self.o_weight <= 1:
            raise GenerError(f"o_weight must be in (0, 1], not {self.o_weight}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise GenerError("mixed_precision must be no, bf16 or fp16")


@dataclass
class TrainResult:
    """Where the model is and how the run went."""

    model_dir: Path
    best_f1: float | None
    steps: int
    seconds: float
    log_path: Path
    best_step: int | None = None
    tokens: int = 0  # real (non-padding) tokens trained on, all processes
    train_seconds: float = 0.0  # time spent batching and stepping (no evaluation or saving)
    history: list[dict] = field(default_factory=list)


def soft_labels(teacher_probs):
    """BOND's soft labels: p² divided by the per-class sum over tokens, renormalised."""
    weights = teacher_probs.pow(2) / teacher_probs.sum(0, keepdim=True).clamp_min(1e-12)
    return weights / weights.sum(1, keepdim=True)


def self_training_loss(student_logits, teacher_logits, label_mask, threshold: float):
    """KL(soft teacher labels || student) over confident labelled tokens; also the kept share."""
    import torch.nn.functional as F

    student = student_logits[label_mask].float()
    targets = soft_labels(teacher_logits[label_mask].float().softmax(-1))
    keep = targets.max(-1).values >= threshold
    if not keep.any():  # still touch every parameter, as DDP expects
        return student_logits.sum() * 0.0, 0.0
    loss = F.kl_div(student[keep].log_softmax(-1), targets[keep], reduction="batchmean")
    return loss, keep.float().mean().item()


def ship_rules(model_config, config: TrainConfig) -> None:
    """Store the rules on predictions in ``model_config``, with the pipeline that applies them
    (:mod:`trainers.hub_pipeline`) named in its ``custom_pipelines`` when there are any."""
    from trainers.hub_pipeline import CAPITALIZED_KEY, RULE9_KEY

    setattr(model_config, CAPITALIZED_KEY, list(config.capitalized_types))
    setattr(model_config, RULE9_KEY, list(config.rule9_types))
    pipelines = dict(getattr(model_config, "custom_pipelines", None) or {})
    pipelines.pop(PIPELINE_TASK, None)
    if config.capitalized_types or config.rule9_types:
        pipelines[PIPELINE_TASK] = {
            "impl": f"{Path(PIPELINE_FILE).stem}.GenerTokenClassificationPipeline",
            "pt": ["AutoModelForTokenClassification"], "tf": [], "type": "text"}
    model_config.custom_pipelines = pipelines


def tag_weights(examples: list[dict], names: list[str], config: TrainConfig):
    """Per tag, its weight in the supervised stage's loss (``o_weight`` for O; with
    ``balance_labels``, ``sqrt(most frequent entity tag's count / this tag's count)``, at
    most 10, for entity tags), counted over all the training windows; None when all are 1."""
    weights = [1.0] * len(names)
    weights[names.index("O")] = config.o_weight
    if config.balance_labels:
        counts = [0] * len(names)
        for example in examples:
            for tag in example["labels"]:
                if tag >= 0:
                    counts[tag] += 1
        entity = [i for i, name in enumerate(names) if name != "O" and counts[i]]
        top = max((counts[i] for i in entity), default=0)
        for i in entity:
            weights[i] = min(math.sqrt(top / counts[i]), 10.0)
    return None if all(w == 1.0 for w in weights) else weights


def label_rules(config: TrainConfig, tokenizer):
    """``rules(words, tags) -> tags``: the run's rules on predictions."""
    from trainers.hub_pipeline import apply_rules, common_words

    capitalized, rule9 = set(config.capitalized_types), set(config.rule9_types)
    common = common_words(tokenizer.get_vocab()) if rule9 else frozenset()
    return lambda words, tags: apply_rules(words, tags, capitalized, rule9, common)


def _check_labels(names: list[str]) -> None:
    bad = [n for n in names if n != "O" and not entity_type(n)]
    if bad:
        raise GenerError(f"labels must be O, B-X or I-X; got {bad}")


class _Run:
    """State of one training run (kept together so that it can be checkpointed)."""

    def __init__(self, config: TrainConfig, out: Path, accelerator, model, optimizer, scheduler,
                 loader, sampler, tokenizer, names, validation, class_weights=None):
        self.config, self.out, self.acc = config, out, accelerator
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loader, self.sampler, self.tokenizer = loader, sampler, tokenizer
        self.names = names
        self.class_weights = class_weights  # the supervised loss's per-tag weights, or None
        self.types = list(dict.fromkeys(t for t in map(entity_type, names) if t))
        self.validation = validation  # (sentences, gold tags) or None
        self.teacher = None
        self.state = {"step": 0, "epoch": 0, "batch": 0, "best_f1": None, "best_step": None,
                      "tokens": 0, "train_seconds": 0.0}
        self.history: list[dict] = []
        self.window = self._new_window()

    @staticmethod
    def _new_window() -> dict:
        """Sums since the last log line."""
        return {"loss": 0.0, "steps": 0, "kept": 0.0, "kept_batches": 0, "tokens": 0}

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / CHECKPOINTS

    # --- teacher -------------------------------------------------------------------------
    def refresh_teacher(self) -> None:
        """The teacher becomes a frozen copy of the current student."""
        import torch
        from transformers import AutoModelForTokenClassification

        student = self.acc.unwrap_model(self.model)
        if self.teacher is None:
            with torch.random.fork_rng(devices=[]):  # keep the training RNG stream intact
                self.teacher = AutoModelForTokenClassification.from_config(student.config)
            self.teacher.to(self.acc.device).eval().requires_grad_(False)
        self.teacher.load_state_dict(student.state_dict())

    # --- evaluation ----------------------------------------------------------------------
    def evaluate(self) -> dict | None:
        """Validation P/R/F1 of the current student (sentences sharded over processes)."""
        if self.validation is None:
            return None
        from accelerate.utils import gather_object

        from trainers.evaluation import score_tags
        from trainers.inference import predict_words

        sentences, gold = self.validation
        rank, world = self.acc.process_index, self.acc.num_processes
        mine = list(range(rank, len(sentences), world))
        student = self.acc.unwrap_model(self.model)
        student.eval()
        ids, _ = predict_words(student, self.tokenizer, [sentences[i] for i in mine],
                               self.config.max_length, batch_size=self.config.eval_batch_size,
                               autocast=self.acc.autocast)
        student.train()
        rules = label_rules(self.config, self.tokenizer)
        predicted = dict(gather_object([
            (i, rules(sentences[i], [self.names[t] for t in row]))
            for i, row in zip(mine, ids, strict=True)]))
        return score_tags([predicted[i] for i in range(len(sentences))], gold, self.types)

    # --- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Save everything needed to resume (atomically replaces the previous checkpoint)."""
        from safetensors.torch import save_file

        final, tmp = self.checkpoint_dir / "last", self.checkpoint_dir / "last.tmp"
        if self.acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))
        if self.acc.is_main_process:
            if self.teacher is not None:
                save_file({k: v.contiguous() for k, v in self.teacher.state_dict().items()},
                          str(tmp / "teacher.safetensors"))
            (tmp / "trainer_state.json").write_text(
                json.dumps({**self.state, "labels": self.names}, indent=2), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        self.acc.wait_for_everyone()

    def load_checkpoint(self) -> bool:
        """Resume from the last checkpoint if there is one; True when resumed."""
        from safetensors.torch import load_file

        last = self.checkpoint_dir / "last"
        if not (last / "trainer_state.json").exists():
            return False
        state = json.loads((last / "trainer_state.json").read_text(encoding="utf-8"))
        if state.pop("labels") != self.names:
            raise GenerError(f"{last}: checkpoint has other labels than the dataset")
        self.acc.load_state(str(last))
        self.state.update(state)
        if (last / "teacher.safetensors").exists():
            self.refresh_teacher()
            self.teacher.load_state_dict(load_file(str(last / "teacher.safetensors")))
        return True

    def save_best(self) -> None:
        if self.acc.is_main_process:
            target = self.checkpoint_dir / "best"
            self.acc.unwrap_model(self.model).save_pretrained(str(target))
        self.acc.wait_for_everyone()

    # --- training ------------------------------------------------------------------------
    def training_step(self, batch) -> None:
        import torch

        config, acc = self.config, self.acc
        labels = batch.pop("labels")
        mask = labels != IGNORE
        with acc.accumulate(self.model):
            logits = self.model(**batch).logits
            if not mask.any():  # no labelled word in this batch: no signal, keep DDP in step
                loss = logits.sum() * 0.0
            elif self.teacher is None:
                loss = torch.nn.functional.cross_entropy(logits[mask].float(), labels[mask],
                                                         weight=self.class_weights)
            else:
                with torch.no_grad(), acc.autocast():
                    teacher_logits = self.teacher(**batch).logits
                loss, kept = self_training_loss(logits, teacher_logits, mask,
                                                config.confidence_threshold)
                self.window["kept"] += kept
                self.window["kept_batches"] += 1
            acc.backward(loss)
            if acc.sync_gradients:
                acc.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad()
        self.window["loss"] += loss.item() / config.grad_accum
        self.window["tokens"] += int(batch["attention_mask"].sum())

    def after_step(self, log_file, progress) -> None:
        """Scheduler, teacher updates, evaluation, logging and checkpoints after a step."""
        config, state = self.config, self.state
        self.scheduler.step()
        state["step"] += 1
        step = state["step"]
        self.window["steps"] += 1
        progress.update(1)
        logged = step % config.eval_every == 0 or step == config.max_steps
        if logged:
            self.log(log_file, progress)
        if step >= config.t_early and (step - config.t_early) % config.t_update == 0:
            self.refresh_teacher()
        if logged and step < config.max_steps:
            self.save_checkpoint()

    def log(self, log_file, progress) -> None:
        import torch

        state, window = self.state, self.window
        loss = self.acc.reduce(torch.tensor(window["loss"] / max(window["steps"], 1),
                                            device=self.acc.device), "mean").item()
        state["tokens"] += int(self.acc.reduce(torch.tensor(window["tokens"],
                                                            device=self.acc.device), "sum"))
        record = {"step": state["step"], "epoch": state["epoch"],
                  "stage": "self-training" if self.teacher is not None else "supervised",
                  "loss": round(loss, 5), "lr": self.scheduler.get_last_lr()[0],
                  "tokens": state["tokens"], "train_seconds": round(state["train_seconds"], 2)}
        if window["kept_batches"]:
            record["trained_token_share"] = round(window["kept"] / window["kept_batches"], 4)
        scores = self.evaluate()
        if scores is not None:
            record.update(val_precision=scores["precision"], val_recall=scores["recall"],
                          val_f1=scores["f1"])
            if state["best_f1"] is None or scores["f1"] > state["best_f1"]:
                state["best_f1"], state["best_step"] = scores["f1"], state["step"]
                self.save_best()
            record["best_f1"] = state["best_f1"]
        self.window = self._new_window()
        self.history.append(record)
        if self.acc.is_main_process:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
        progress.set_postfix({k: record[k] for k in ("loss", "val_f1") if k in record})

    def run(self, log_file) -> None:
        from tqdm.auto import tqdm

        config, state, acc = self.config, self.state, self.acc
        progress = tqdm(total=config.max_steps, initial=state["step"], desc="training",
                        disable=not (config.progress and acc.is_local_main_process))
        self.model.train()
        if self.teacher is None and state["step"] >= config.t_early:  # t_early = 0
            self.refresh_teacher()
        while state["step"] < config.max_steps:
            self.loader.set_epoch(state["epoch"])  # accelerate's own epoch counter
            self.sampler.set_epoch(state["epoch"])  # also under a batch-skipping wrapper
            batches = (acc.skip_first_batches(self.loader, state["batch"]) if state["batch"]
                       else self.loader)
            tick = time.perf_counter()
            for batch in batches:
                self.training_step(batch)
                state["batch"] += 1
                synced = acc.sync_gradients
                state["train_seconds"] += time.perf_counter() - tick  # batching + step
                if synced:
                    self.after_step(log_file, progress)
                    if state["step"] >= config.max_steps:
                        break
                tick = time.perf_counter()
            else:
                state["epoch"] += 1
                state["batch"] = 0
        progress.close()


def _make_accelerator(config: TrainConfig):
    """An Accelerator; without a GPU, several launched processes train on CPU over gloo."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    kwargs = {"gradient_accumulation_steps": config.grad_accum,
              "mixed_precision": config.mixed_precision,
              "cpu": not (torch.cuda.is_available() or torch.backends.mps.is_available())}
    try:
        return Accelerator(**kwargs)
    except ValueError as err:
        if "already been initialized" not in str(err):
            raise GenerError(f"cannot set up training: {err}") from err
    # Another run in this process fixed the precision: start afresh (single-process only).
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(**kwargs)


def train(train_dataset, out_dir, model_name: str = "minilm", validation_dataset=None,
          config: TrainConfig | None = None) -> TrainResult:
    """Self-train a token classifier on ``train_dataset``; save it with a card to ``out_dir``."""
    import torch
    import transformers
    from accelerate.utils import set_seed
    from transformers import AutoModelForTokenClassification, get_linear_schedule_with_warmup

    from trainers.evaluation import gold_tags

    started = time.perf_counter()
    config = config or TrainConfig()
    config.check()
    names = label_names(train_dataset)
    _check_labels(names)
    types = {entity_type(n) for n in names} - {None}
    for what, listed in (("capitalized", config.capitalized_types),
                         ("rule 9", config.rule9_types)):
        unknown = [t for t in listed if t not in types]
        if unknown:
            raise GenerError(f"{what} types {unknown} are not labels of the dataset "
                             f"({', '.join(sorted(types))})")
    if len(train_dataset) == 0:
        raise GenerError("the training dataset is empty")
    out = Path(out_dir)
    accelerator = _make_accelerator(config)
    set_seed(config.seed)
    transformers.logging.set_verbosity_error()
    path = resolve_model_path(model_name)
    tokenizer = load_tokenizer(path)
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            path, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)
    except OSError as err:
        raise GenerError(f"cannot load model {model_name!r}: {err}") from err
    ship_rules(model.config, config)
    examples = encode_training_examples(train_dataset, tokenizer, config.max_length)
    if config.t_early >= config.max_steps:
        logger.warning("t_early (%d) >= max_steps (%d): no self-training stage",
                       config.t_early, config.max_steps)

    sampler = LengthGroupedBatches([len(e["input_ids"]) for e in examples], config.batch_size,
                                   seed=config.seed)
    loader = torch.utils.data.DataLoader(
        examples, batch_sampler=sampler,
        generator=torch.Generator().manual_seed(config.seed),  # leaves the global RNG alone
        collate_fn=PadCollator(tokenizer.pad_token_id or 0,
                               8 if config.mixed_precision != "no" else 1))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_ratio * config.max_steps), config.max_steps)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(scheduler)

    validation = None
    if validation_dataset is not None:
        validation = ([list(t) for t in validation_dataset["tokens"]],
                      gold_tags(validation_dataset))
    weights = tag_weights(examples, names, config)
    run = _Run(config, out, accelerator, model, optimizer, scheduler, loader, sampler, tokenizer,
               names, validation,
               None if weights is None else torch.tensor(weights, device=accelerator.device))
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    log_path = out / LOG_NAME
    if config.resume and run.load_checkpoint():
        logger.info("resuming from step %d", run.state["step"])
    elif accelerator.is_main_process:
        log_path.unlink(missing_ok=True)
    with open(log_path, "a", encoding="utf-8") as log_file:
        run.run(log_file)

    state = run.state
    if accelerator.is_main_process:
        info = {"model_name": model_name, "base_model": path, "labels": names,
                "config": asdict(config), "steps": state["step"], "best_f1": state["best_f1"],
                "best_step": state["best_step"], "tokens": state["tokens"],
                "train_seconds": round(state["train_seconds"], 1),
                "train_sentences": len(train_dataset), "train_windows": len(examples),
                "validation_sentences": len(validation[0]) if validation else 0,
                "seconds": round(time.perf_counter() - started, 1), "results": []}
        _save_final(out, accelerator.unwrap_model(model), tokenizer,
                    run.checkpoint_dir / "best" if state["best_step"] else None, info,
                    validation if config.calibrate else None, config)
        write_model_card(out, info)
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return TrainResult(model_dir=out, best_f1=state["best_f1"], steps=state["step"],
                       seconds=time.perf_counter() - started, log_path=log_path,
                       best_step=state["best_step"], tokens=state["tokens"],
                       train_seconds=state["train_seconds"], history=run.history)


def _save_final(out: Path, student, tokenizer, best: Path | None, info: dict,
                calibration=None, config: TrainConfig | None = None) -> None:
    """Write the kept model, tokenizer and training info into ``out`` (via a staging folder);
    with ``calibration`` (validation sentences and tags), choose the O bias on it first and
    fold it into the weights."""
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    if best is not None:
        shutil.copytree(best, staging)
    else:
        student.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    if config is not None and (config.capitalized_types or config.rule9_types):
        shutil.copyfile(Path(__file__).with_name("hub_pipeline.py"), staging / PIPELINE_FILE)
    if calibration is not None:
        _calibrate(staging, tokenizer, calibration, config, info)
    (staging / INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    for item in staging.iterdir():
        item.replace(out / item.name)
    staging.rmdir()


def _calibrate(folder: Path, tokenizer, validation, config: TrainConfig, info: dict) -> None:
    """Choose the O bias of the model in ``folder`` on the validation split, fold it into the
    saved weights and record it in the training info."""
    from transformers import AutoModelForTokenClassification

    from trainers.calibration import choose_o_bias, fold_o_bias

    model = AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    sentences, gold = validation
    o_bias, table = choose_o_bias(model, tokenizer, sentences, gold, config.max_length,
                                  config.eval_batch_size,
                                  rules=label_rules(config, tokenizer))
    fold_o_bias(model, o_bias)
    model.save_pretrained(str(folder))
    info.update(o_bias=o_bias, calibration=table)
