//! The text side of the processor (spec 6.2): the checkpoint's `tokenizer.json` loaded with
//! the `tokenizers` crate, and the prompt string `"<image>" * 256 + "<bos>" + instruction +
//! "\n"` tokenised as one string without automatic special tokens, exactly as the reference
//! processor builds it (added tokens such as `<image>`, `<bos>` and `\n` are split out
//! first, so the instruction's pieces are the same as tokenising it alone).

use std::path::{Path, PathBuf};

use super::error::{ModelError, Result};

/// Most instruction tokens a prompt keeps (SpatialVLA's instructions are a sentence; the
/// released model was trained on far shorter ones).
pub const MAX_INSTRUCTION_TOKENS: usize = 256;
/// Most instruction bytes tokenised at all.
pub const MAX_INSTRUCTION_BYTES: usize = 16 << 10;

pub struct PromptTokenizer {
    path: PathBuf,
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl PromptTokenizer {
    /// Loads `dir/tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(ModelError::Tokenizer {
                path,
                what: "missing (the checkpoint folder needs its tokenizer.json)".into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            what: format!("cannot load: {e}"),
        })?;
        Ok(PromptTokenizer { path, inner })
    }

    /// The full prompt ids (the instruction as given; see [`Self::prompt_ids_capped`]): `num_image_tokens` image ids, `<bos>`, the instruction, `\n`.
    pub fn prompt_ids(&self, instruction: &str, num_image_tokens: usize) -> Result<Vec<u32>> {
        let text = format!("{}<bos>{instruction}\n", "<image>".repeat(num_image_tokens));
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                what: format!("cannot encode the prompt: {e}"),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// [`Self::prompt_ids`] with the instruction capped at [`MAX_INSTRUCTION_TOKENS`] (and
    /// [`MAX_INSTRUCTION_BYTES`] before tokenising): a long text would make the attention
    /// quadratic in it (1 MB of text asks terabytes). Returns the ids and, when the
    /// instruction was cut, a note saying so for the user.
    pub fn prompt_ids_capped(
        &self,
        instruction: &str,
        num_image_tokens: usize,
    ) -> Result<(Vec<u32>, Option<String>)> {
        let mut text = instruction;
        if text.len() > MAX_INSTRUCTION_BYTES {
            let mut end = MAX_INSTRUCTION_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        let alone = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                what: format!("cannot encode the instruction: {e}"),
            })?;
        let count = alone.get_ids().len();
        if count > MAX_INSTRUCTION_TOKENS {
            let end = alone.get_offsets()[MAX_INSTRUCTION_TOKENS - 1]
                .1
                .min(text.len());
            let mut end = end;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        let note = (text.len() < instruction.len()).then(|| {
            format!(
                "the instruction was cut to its first {MAX_INSTRUCTION_TOKENS} tokens ({} of {} bytes kept): longer prompts would exhaust the model's memory",
                text.len(),
                instruction.len()
            )
        });
        Ok((self.prompt_ids(text, num_image_tokens)?, note))
    }

    /// The token string of an id (`<ACTION02048>`, `▁cup`, ...), if the vocabulary has it.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a token string.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}
