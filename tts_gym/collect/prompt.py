r"""What the model is asked, and the fixed hand-off suffix that turns a partial trace into a probe.

The suffix closes the thinking (for models that have a `</think>` token) and opens `\boxed{`,
so that greedy decoding continues with the answer the model would give at that point. It is
tokenised once and appended as token ids, so a probe's prompt is exactly: prompt ids + the
trace's first k*D ids + suffix ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tts_gym.collect.errors import CollectError
from tts_gym.errors import first_line

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
THINK_END = "</think>"
THINKING_SUFFIX = (
    "\n\nTime is up. I must stop thinking now and give my final answer.\n"
    "</think>\n\n**Final Answer**\n\\boxed{"
)
PLAIN_SUFFIX = "\n\n**Final Answer**\n\\boxed{"


@dataclass(frozen=True)
class PromptFormat:
    thinking: bool
    suffix: str
    suffix_ids: tuple[int, ...]

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> PromptFormat:
        if not getattr(tokenizer, "chat_template", None):
            raise CollectError(
                f"the tokenizer of '{tokenizer.name_or_path}' has no chat template; "
                "collection needs a chat (instruct or reasoning) model."
            )
        thinking = THINK_END in tokenizer.get_vocab()
        suffix = THINKING_SUFFIX if thinking else PLAIN_SUFFIX
        return cls(thinking, suffix, tuple(tokenizer.encode(suffix, add_special_tokens=False)))

    def prompt_text(self, tokenizer: Any, question: str) -> str:
        """The chat-formatted prompt (thinking mode on where the model has one)."""
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message(question)}],
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=self.thinking,
        )

    def prompt_ids(self, tokenizer: Any, question: str) -> list[int]:
        """The chat-formatted prompt as token ids."""
        text = self.prompt_text(tokenizer, question)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def probe_ids(self, prompt: list[int], generated: Sequence[int]) -> list[int]:
        """A probe's prompt: the prompt, the trace so far, the hand-off suffix (token ids)."""
        return [*prompt, *generated, *self.suffix_ids]

    def probe_text(self, prompt: str, generated: str) -> str:
        """The same as text, for engines that take text (an OpenAI-compatible server)."""
        return prompt + generated + self.suffix


def user_message(question: str) -> str:
    return f"{question}\n{INSTRUCTION}"


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as error:
        raise CollectError(
            f"cannot load the tokenizer of '{model}' ({first_line(error)})."
        ) from None
