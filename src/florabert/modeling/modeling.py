"""FloraBERT models: RoBERTa with TSS-anchored positions (MLM and encoder).

Follows the transformers pattern: subclasses of the RoBERTa classes with ``config_class`` set, the
backbone attribute still named ``roberta`` so an MLM checkpoint loads straight into a fine-tuning model.
Position ids are computed from the attention mask when the caller gives none.
"""

from __future__ import annotations

from torch.nn import functional as F
from transformers import RobertaForMaskedLM, RobertaModel
from transformers.modeling_outputs import MaskedLMOutput

from florabert.modeling.configuration import FloraBertConfig
from florabert.modeling.positions import tss_position_ids


def _positions(config, input_ids, attention_mask, inputs_embeds):
    if attention_mask is None:
        ref = input_ids if input_ids is not None else inputs_embeds[..., 0]
        attention_mask = (ref != config.pad_token_id) if input_ids is not None else ref.new_ones(ref.shape)
    return tss_position_ids(attention_mask, max_positions=config.max_position_embeddings,
                            padding_idx=config.pad_token_id)


class FloraBertModel(RobertaModel):
    config_class = FloraBertConfig

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, **kwargs):
        if position_ids is None:
            position_ids = _positions(self.config, input_ids, attention_mask, inputs_embeds)
        return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, **kwargs)


class FloraBertForMaskedLM(RobertaForMaskedLM):
    """RoBERTa MLM with TSS-anchored positions.

    With ``config.sparse_prediction`` (default True) and ``labels`` given, only the labelled positions go
    through the LM head (as ModernBERT does): about 15 % of the tokens, which for small models with a
    5,000-token vocabulary is most of the compute. ``logits`` then has shape (n_labelled, vocab), rows in
    row-major order of ``labels != -100``; without labels, logits are (batch, length, vocab) as usual.
    """

    config_class = FloraBertConfig

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, **kwargs):
        if position_ids is None:
            position_ids = _positions(self.config, input_ids, attention_mask, inputs_embeds)
        if labels is None or not getattr(self.config, "sparse_prediction", True):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, position_ids=position_ids,
                                   inputs_embeds=inputs_embeds, labels=labels, **kwargs)
        hidden = self.roberta(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)[0]
        chosen = labels != -100
        logits = self.lm_head(hidden[chosen])
        target = labels[chosen]
        loss = F.cross_entropy(logits.float(), target) if target.numel() else logits.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)
