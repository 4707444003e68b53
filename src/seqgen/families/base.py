"""What a model family is: the interface every family module's `FAMILY` implements."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from seqgen.models.transformer import ModelConfig, Seq2Seq


class Family:
    """A family's behaviour. The defaults are those of a plain Seq2Seq (the mle family); the others override
    what differs."""

    name: ClassVar[str]
    # Params sections besides `trainer` under tasks.<task>.train.<name>, each read into its config class.
    settings: ClassVar[dict[str, type]] = {}
    # The family whose trained model this one's weights start from (models/<task>-<warm_starts_from>/model.pt).
    warm_starts_from: ClassVar[str | None] = None
    # What the reported perplexity is.
    ppl_kind: ClassVar[str] = "teacher-forced"

    def build(self, model_cfg: ModelConfig, settings: dict[str, Any]) -> nn.Module:
        """A freshly initialised model for training (draws from torch's global RNG)."""
        return Seq2Seq(model_cfg)

    def saved(self, model: nn.Module) -> dict[str, Any]:
        """What rebuild() needs besides the ModelConfig, written to the model folder's config.json."""
        return {"latent": None}

    def rebuild(self, model_cfg: ModelConfig, saved: dict[str, Any]) -> nn.Module:
        """The network of a saved model, to load its state_dict into."""
        return Seq2Seq(model_cfg)

    def seq2seq(self, model: nn.Module) -> Seq2Seq:
        """The network decoding runs."""
        return model

    def warm_start(self, model: nn.Module, state: dict[str, Tensor]) -> None:
        """Load the warm_starts_from family's trained weights into a fresh model."""
        self.seq2seq(model).load_state_dict(state)

    def objective(self, model: nn.Module, model_cfg: ModelConfig, settings: dict[str, Any]):
        """The training objective: what turns a batch into a loss (the interface: mle.MLEObjective)."""
        raise NotImplementedError

    def decoder_extra(self, model: nn.Module, src: Tensor, sample: bool, prior_scale: float = 1.0) -> Tensor | None:
        """What the decoder adds to its inputs (the VAE's latent; `sample`: a draw rather than the mean, its spread
        times prior_scale), or None."""
        return None

    def held_out(self, model: nn.Module, batches: list) -> dict[str, float]:
        """Held-out `ppl` and the family's own measures, over evaluation batches (the model in eval mode)."""
        from seqgen.families.mle import held_out_perplexity

        return {"ppl": held_out_perplexity(model, batches)}

    def decoding_note(self) -> str | None:
        """How the primary output uses what is family-specific (recorded with the metrics)."""
        return None


def read_settings(family: Family, spec: Any, where: str) -> dict[str, Any]:
    """tasks.<task>.train.<family> -> {"trainer": TrainConfig, <section>: its config class, ...}; a ConfigError
    names the section when its keys are not exactly `trainer` plus the family's own."""
    from seqgen.config import from_mapping
    from seqgen.errors import ConfigError
    from seqgen.training.trainer import TrainConfig

    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping")
    fields = {"trainer": TrainConfig, **family.settings}
    if set(spec) != set(fields):
        raise ConfigError(f"{where}: expected exactly the keys {sorted(fields)}, got {sorted(spec)}")
    return {key: from_mapping(fields[key], spec[key], f"{where}.{key}") for key in fields}
