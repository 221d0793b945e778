"""The pipeline's own rules, with a small detector written here: a detector that breaks on one
observation has that failure recorded and the rest of the batch still found; state is carried
between batches only from runs that completed; re-emitted findings merge by campaign key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, Finding, Observation
from qorgau.detect.pipeline import configure, merge_findings, run_one, run_stream

T0 = datetime(2025, 6, 2, 18, 0, tzinfo=UTC)


class WordCounter:
    """Counts observations containing a word, per account; raises on the text "boom"."""

    spec: DetectorSpec[str] = DetectorSpec(
        name="word_counter",
        help="test detector",
        attack_types=("other",),
        config_schema={"type": "object"},
        parse_config=lambda raw: str(raw.get("word", "ad")),
        partition_key=lambda ob, word: ob.account,
    )

    def detect(self, batch: Sequence[Observation], config: str, state: State) -> BatchResult:
        found = []
        for ob in batch:
            if ob.text == "boom":
                raise ValueError("cannot read this one")
            if config in ob.text:
                s = state.setdefault(ob.account, {"n": 0})
                s["n"] += 1
                found.append(
                    Finding(
                        detector="word_counter",
                        key=f"word:{ob.account}",
                        title="word seen",
                        explanation=f"{s['n']} times",
                        attack_type="other",
                        observation_ids=(ob.id,),
                        details={"n": s["n"]},
                    )
                )
        return BatchResult(tuple(merge_findings(found)))


def obs(i: int, text: str, account: str = "a") -> Observation:
    return Observation(
        id=f"t:{i}",
        source="t",
        platform="test",
        time=T0 + timedelta(minutes=i),
        account=account,
        text=text,
    )


def test_a_breaking_observation_is_recorded_and_the_rest_still_found() -> None:
    c = configure(WordCounter(), {"word": "ad"})
    state: State = {}
    result = run_one(c, [obs(1, "an ad"), obs(2, "boom"), obs(3, "another ad")], state)
    assert [f.observation_id for f in result.failures] == ["t:2"]
    assert "cannot read this one" in result.failures[0].error
    (finding,) = result.findings
    assert finding.observation_ids == ("t:1", "t:3")
    assert state == {"a": {"n": 2}}


def test_state_of_a_failed_run_is_not_kept() -> None:
    c = configure(WordCounter(), {})
    state: State = {"a": {"n": 5}}
    run_one(c, [obs(1, "boom")], state)
    assert state == {"a": {"n": 5}}


def test_batches_of_any_size_give_the_same_findings() -> None:
    c = configure(WordCounter(), {})
    stream = [obs(i, "ad" if i % 3 else "x", account="ab"[i % 2]) for i in range(40)]
    whole = run_stream(c, stream, batch_size=1000)
    small = run_stream(c, list(reversed(stream)), batch_size=7)
    assert [f.to_json() for f in whole.findings] == [f.to_json() for f in small.findings]
    assert {f.key: len(f.observation_ids) for f in whole.findings} == {
        "word:a": 13,
        "word:b": 13,
    }


def test_merge_keeps_every_observation_of_a_campaign_once() -> None:
    def finding(ids: tuple[str, ...], n: int) -> Finding:
        return Finding("d", "k", "t", "e", "other", ids, subjects=("p",), details={"n": n})

    (merged,) = merge_findings([finding(("1", "2"), 1), finding(("2", "3"), 2)])
    assert merged.observation_ids == ("1", "2", "3")
    assert merged.details == {"n": 2}


def test_an_observation_without_a_time_zone_fails_alone() -> None:
    """The floods detector refuses a naive time; the sort before it must not break first."""
    from qorgau.detect.registry import by_name

    c = configure(by_name("floods"), {"people": [{"name": "Ed", "phones": ["+77015550101"]}]})
    naive = Observation(
        id="t:naive",
        source="t",
        platform="phone",
        kind="call",
        time=datetime(2025, 6, 2, 18, 0),
        account="+77471000001",
        recipients=("+77015550101",),
    )
    good = Observation(
        id="t:good",
        source="t",
        platform="phone",
        kind="call",
        time=T0,
        account="+77471000002",
        recipients=("+77015550101",),
    )
    result = run_one(c, [good, naive], {})
    assert [f.observation_id for f in result.failures] == ["t:naive"]
