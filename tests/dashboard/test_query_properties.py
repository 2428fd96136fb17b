"""Property tests of the dashboard's query-string parsing: any query gives a usable filter,
and a filter's own links read back as the same filter."""

from __future__ import annotations

from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from apps.dashboard.filters import HEALTH_CHOICES, OS_CHOICES, FleetFilter
from apps.dashboard.services.rules import EDITORS, AdviceContext

FIELDS = list(FleetFilter.__dataclass_fields__)
queries = st.dictionaries(
    st.sampled_from([*FIELDS, "page", "platform", "editor", "gopls", "go", "x"]),
    st.text(max_size=300),
)
clean_text = st.text(max_size=200).map(str.strip).filter(lambda s: s == s.strip()[:200])


def _query_dict(values: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update(values)
    return query


@given(queries)
def test_any_query_gives_a_filter_of_known_choices_and_bounded_text(values):
    flt = FleetFilter.from_query(_query_dict(values))
    assert flt.os in {"", *dict(OS_CHOICES)}
    assert flt.health in {"", *dict(HEALTH_CHOICES)}
    assert all(len(getattr(flt, name)) <= 200 for name in FIELDS)
    assert all(getattr(flt, name) == getattr(flt, name).strip() for name in FIELDS)


@given(
    st.fixed_dictionaries(
        {
            "team": clean_text,
            "project": clean_text,
            "os": st.sampled_from(["", *dict(OS_CHOICES)]),
            "editor": clean_text,
            "version": clean_text,
            "health": st.sampled_from(["", *dict(HEALTH_CHOICES)]),
        }
    )
)
def test_a_filter_reads_back_from_its_own_query_string(values):
    flt = FleetFilter(**values)
    assert FleetFilter.from_query(QueryDict(flt.query())) == flt
    assert flt.active == any(values.values())


@given(queries)
def test_any_query_gives_an_advice_context_of_known_platform_and_editor(values):
    ctx = AdviceContext.from_query(_query_dict(values))
    assert ctx.editor in EDITORS
    assert ctx.platform in ("linux", "darwin", "windows", "wsl2")
    assert len(ctx.gopls) <= 32
    assert len(ctx.go) <= 32
