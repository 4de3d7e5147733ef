"""Short-term memory: the window stays under its budget and older exchanges fold into a summary."""
from recai.agent.memory import DialogueMemory, extractive_summary, llm_summarizer
from recai.errors import LLMError


def test_the_window_keeps_the_newest_exchanges_under_the_budget():
    memory = DialogueMemory(budget_tokens=60, summarize=None)
    for n in range(10):
        memory.add(f"request number {n} " + "x" * 40, f"reply {n} " + "y" * 40)
    text = [m["content"] for m in memory.messages()]
    assert len(memory) < 10 and text[-1].startswith("reply 9") and memory.summary == ""
    assert sum(len(t) for t in text) // 4 + 4 * len(text) <= 60


def test_dropped_exchanges_are_summarised_by_the_users_requests():
    memory = DialogueMemory(budget_tokens=40)
    memory.add("I loved The Matrix", "1. Dark City " + "z" * 100)
    memory.add("no horror please", "1. Gattaca " + "z" * 100)
    memory.add("and from the 90s?", "1. Cube " + "z" * 100)
    assert "I loved The Matrix" in memory.summary and "Dark City" not in memory.summary
    first = memory.messages()[0]
    assert first["role"] == "system" and memory.summary in first["content"]
    assert len(memory.summary) <= 40


def test_the_extractive_summary_keeps_the_newest_requests_within_its_size():
    s = extractive_summary("", [("first request", "a"), ("second request", "b")], 100)
    assert s == "first request | second request"
    s = extractive_summary(s, [("third request " + "w" * 20, "c")], 40)
    assert s == "third request " + "w" * 20 and len(s) <= 40
    assert extractive_summary("", [("v" * 50, "")], 10) == "v" * 10


class OneLiner:
    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def chat(self, messages, max_tokens=256, temperature=0.0, stop=(), constraint=None):
        self.prompts.append(messages[-1]["content"])
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_the_llm_summariser_sees_the_dropped_exchange_and_falls_back_when_the_model_fails():
    llm = OneLiner("The user likes The Matrix and dislikes horror.")
    summarize = llm_summarizer(llm)
    assert summarize("", [("I loved The Matrix", "1. Dark City")], 200) == "The user likes The Matrix and dislikes horror."
    assert "User: I loved The Matrix" in llm.prompts[0]
    down = llm_summarizer(OneLiner(LLMError("backend down")))
    assert down("", [("I loved The Matrix", "1. Dark City")], 200) == "I loved The Matrix"
