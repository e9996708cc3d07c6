"""FloraBERT models: RoBERTa with TSS-anchored positions (MLM and encoder).

Follows the transformers pattern: subclasses of the RoBERTa classes with ``config_class`` set, the
backbone attribute still named ``roberta`` so an MLM checkpoint loads straight into a fine-tuning model.
Position ids are computed from the attention mask when the caller gives none.
"""

from __future__ import annotations

from transformers import RobertaForMaskedLM, RobertaModel

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
    config_class = FloraBertConfig

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, **kwargs):
        if position_ids is None:
            position_ids = _positions(self.config, input_ids, attention_mask, inputs_embeds)
        return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, labels=labels, **kwargs)
