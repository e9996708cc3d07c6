"""DNA tokenizers (BPE, k-mer, single nucleotide), all ``transformers.PreTrainedTokenizerFast``."""

from florabert.tokenization.api import DNATokenizer, check_vocabulary, length_stats, train_tokenizer
from florabert.tokenization.base import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

__all__ = ["BOS_ID", "EOS_ID", "MASK_ID", "PAD_ID", "SPECIAL_TOKENS", "UNK_ID", "DNATokenizer",
           "check_vocabulary", "length_stats", "train_tokenizer"]
