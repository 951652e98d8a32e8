"""Variable resolution: step results, init data and ``.map()`` sources (spec: variable-resolution #1-#30).

#13-#30 are the ``.map()`` template source: ``{"template": "..."}`` values with
``${namespace.path}`` placeholders, rendered at run time and checked when the
workflow is defined.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, RootModel

from workflows_app import create_step, create_workflow, errors, map_variable

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import counted


def constant(step_id: str, output: Any) -> Any:
    return create_step(step_id, execute=lambda ctx: output)


class CoolIn(BaseModel):
    cool: str


class MappedIn(BaseModel):
    test: str
    test2: Any


def joined_candidates(ctx: Any) -> Any:
    names = [c["name"] for c in ctx.input_data["candidates"]]
    return {"result": ", ".join(names) if names else "none", "second": ctx.input_data["iteration"]}


async def test_should_resolve_trigger_data(harness: Harness, calls: Calls) -> None:
    """variable-resolution #1: should resolve trigger data."""

    class TriggerIn(BaseModel):
        inputData: str

    class ResultIn(BaseModel):
        result: str

    def action(ctx: Any) -> Any:
        return {"result": "success"}

    step1 = counted(calls, "step1", action, input_schema=TriggerIn)
    step2 = counted(calls, "step2", action, input_schema=ResultIn)
    workflow = (
        create_workflow("var-resolve-trigger-data", input_schema=TriggerIn).then(step1).then(step2).commit()
    )
    result = await harness.execute(workflow, {"inputData": "test-input"})
    assert result.status == "success"
    for step_id in ("step1", "step2"):
        assert result.steps[step_id].status == "success"
        assert result.steps[step_id].output == {"result": "success"}
    assert calls.inputs["step1"] == [{"inputData": "test-input"}]


async def test_should_provide_access_to_step_results_via_get_step_result_helper(
    harness: Harness, calls: Calls
) -> None:
    """variable-resolution #2: should provide access to step results via getStepResult helper."""
    seen: list[Any] = shared_list()
    step1 = counted(calls, "step1", lambda ctx: {"value": "step1-result"})
    never_run = constant("non-executed-step", {"value": "never"})

    async def second(ctx: Any) -> Any:
        seen.append(await ctx.get_step_result(step1))
        seen.append(await ctx.get_step_result("step1"))
        seen.append(await ctx.get_step_result(never_run))
        return {"value": "step2-result"}

    step2 = create_step("step2", execute=second)
    workflow = create_workflow("var-get-step-result").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert calls["step1"] == 1
    assert result.status == "success"
    assert seen == [{"value": "step1-result"}, {"value": "step1-result"}, None]
    assert result.steps["step1"].output == {"value": "step1-result"}
    assert result.steps["step2"].output == {"value": "step2-result"}


async def test_should_resolve_trigger_data_from_context(harness: Harness, calls: Calls) -> None:
    """variable-resolution #3: should resolve trigger data from context."""

    class TriggerIn(BaseModel):
        inputData: str

    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=TriggerIn)
    workflow = create_workflow("var-trigger-from-context", input_schema=TriggerIn).then(step1).commit()
    result = await harness.execute(workflow, {"inputData": "test-input"})
    assert result.status == "success"
    assert calls.inputs["step1"] == [{"inputData": "test-input"}]


async def test_should_resolve_trigger_data_from_get_init_data(harness: Harness, calls: Calls) -> None:
    """variable-resolution #4: should resolve trigger data from getInitData."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=CoolIn)
    step2 = counted(calls, "step2", lambda ctx: {"result": ctx.get_init_data()})
    workflow = create_workflow("var-get-init-data", input_schema=CoolIn).then(step1).then(step2).commit()
    result = await harness.execute(workflow, {"cool": "test-input"})
    assert result.status == "success"
    assert calls.inputs["step1"] == [{"cool": "test-input"}]
    assert result.steps["step2"].status == "success"
    assert result.steps["step2"].output == {"result": {"cool": "test-input"}}


async def test_should_resolve_variables_from_previous_steps_via_map(harness: Harness, calls: Calls) -> None:
    """variable-resolution #5: should resolve variables from previous steps via .map()."""
    step1 = counted(calls, "step1", lambda ctx: {"nested": {"value": "step1-data"}})
    step2 = counted(calls, "step2", lambda ctx: {"result": "success"})
    workflow = (
        create_workflow("var-map-previous-step")
        .then(step1)
        .map({"previousValue": map_variable(step=step1, path="nested.value")})
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert calls.inputs["step2"] == [{"previousValue": "step1-data"}]


async def test_should_resolve_inputs_from_previous_steps_that_are_not_objects(
    harness: Harness, calls: Calls
) -> None:
    """variable-resolution #6: should resolve inputs from previous steps that are not objects."""

    class Text(RootModel[str]):
        pass

    step1 = counted(calls, "step1", lambda ctx: "step1-data", output_schema=Text)
    step2 = counted(
        calls, "step2", lambda ctx: {"result": "success", "input": ctx.input_data}, input_schema=Text
    )
    workflow = create_workflow("var-non-object-output").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.steps["step1"].output == "step1-data"
    assert result.steps["step2"].output == {"result": "success", "input": "step1-data"}


async def test_should_resolve_inputs_from_previous_steps_that_are_arrays(
    harness: Harness, calls: Calls
) -> None:
    """variable-resolution #7: should resolve inputs from previous steps that are arrays."""

    class Item(BaseModel):
        str: str

    class Items(RootModel[list[Item]]):
        pass

    step1 = counted(calls, "step1", lambda ctx: [{"str": "step1-data"}], output_schema=Items)
    step2 = counted(
        calls, "step2", lambda ctx: {"result": "success", "input": ctx.input_data}, input_schema=Items
    )
    workflow = create_workflow("var-array-output").then(step1).then(step2).commit()
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.steps["step1"].output == [{"str": "step1-data"}]
    assert result.steps["step2"].output == {"result": "success", "input": [{"str": "step1-data"}]}


async def test_should_resolve_constant_values_via_map(harness: Harness, calls: Calls) -> None:
    """variable-resolution #8: should resolve constant values via .map()."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=CoolIn)
    step2 = counted(calls, "step2", joined_candidates)
    workflow = (
        create_workflow("var-map-constants", input_schema=CoolIn)
        .then(step1)
        .map({"candidates": {"value": []}, "iteration": {"value": 0}})
        .then(step2)
        .commit()
    )
    result = await harness.execute(workflow, {"cool": "test-input"})
    assert result.status == "success"
    assert calls.inputs["step2"] == [{"candidates": [], "iteration": 0}]
    assert result.steps["step2"].output == {"result": "none", "second": 0}


async def test_should_resolve_fully_dynamic_input_via_map(harness: Harness, calls: Calls) -> None:
    """variable-resolution #9: should resolve fully dynamic input via .map()."""

    async def build(ctx: Any) -> Any:
        return {"candidates": [{"name": ctx.input_data["result"]}, {"name": "hello"}], "iteration": 0}

    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=CoolIn)
    step2 = counted(calls, "step2", joined_candidates)
    workflow = (
        create_workflow("var-map-dynamic", input_schema=CoolIn).then(step1).map(build).then(step2).commit()
    )
    result = await harness.execute(workflow, {"cool": "test-input"})
    assert result.status == "success"
    assert result.steps["step2"].output == {"result": "success, hello", "second": 0}


async def test_should_resolve_trigger_data_and_di_request_context_values_via_map(
    harness: Harness, calls: Calls
) -> None:
    """variable-resolution #10: should resolve trigger data and DI requestContext values via .map()."""
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=CoolIn)
    step2 = counted(
        calls,
        "step2",
        lambda ctx: {"result": ctx.input_data["test"], "second": ctx.input_data["test2"]},
        input_schema=MappedIn,
    )
    workflow = create_workflow("var-map-request-context", input_schema=CoolIn)
    workflow.then(step1).map(
        {
            "test": map_variable(init_data=workflow, path="cool"),
            "test2": {"request_context_path": "life"},
        }
    ).then(step2).commit()
    result = await harness.execute(workflow, {"cool": "test-input"}, request_context={"life": 42})
    assert result.status == "success"
    assert calls.inputs["step1"] == [{"cool": "test-input"}]
    assert result.steps["step2"].output == {"result": "test-input", "second": 42}


def dynamic_mapping_workflow(calls: Calls, workflow_id: str, first_map_id: str | None) -> Any:
    step1 = counted(calls, "step1", lambda ctx: {"result": "success"}, input_schema=CoolIn)
    step2 = counted(
        calls,
        "step2",
        lambda ctx: {"result": ctx.input_data["test"], "second": ctx.input_data["test2"]},
        input_schema=MappedIn,
    )

    async def from_step1(ctx: Any) -> Any:
        return (await ctx.get_step_result(step1))["result"]

    workflow = create_workflow(workflow_id, input_schema=CoolIn)
    return (
        workflow.then(step1)
        .map(
            {
                "test": map_variable(init_data=workflow, path="cool"),
                "test2": {"fn": lambda ctx: "Hello " + ctx.input_data["result"]},
            },
            id=first_map_id,
        )
        .then(step2)
        .map(
            {
                "result": map_variable(step=step2, path="result"),
                "second": {"fn": from_step1},
            }
        )
        .commit()
    )


async def test_should_resolve_dynamic_mappings_via_map(harness: Harness, calls: Calls) -> None:
    """variable-resolution #11: should resolve dynamic mappings via .map()."""
    workflow = dynamic_mapping_workflow(calls, "var-map-dynamic-fn", None)
    result = await harness.execute(workflow, {"cool": "test-input"})
    assert result.status == "success"
    assert calls.inputs["step1"] == [{"cool": "test-input"}]
    assert result.steps["step2"].output == {"result": "test-input", "second": "Hello success"}
    assert result.result == {"result": "test-input", "second": "success"}


async def test_should_resolve_dynamic_mappings_via_map_with_custom_step_id(
    harness: Harness, calls: Calls
) -> None:
    """variable-resolution #12: should resolve dynamic mappings via .map() with custom step id."""
    workflow = dynamic_mapping_workflow(calls, "var-map-custom-id", "step1-mapping")
    result = await harness.execute(workflow, {"cool": "test-input"})
    assert result.status == "success"
    assert result.steps["step1-mapping"].status == "success"
    assert result.steps["step1-mapping"].output == {"test": "test-input", "test2": "Hello success"}
    assert result.steps["step2"].output == {"result": "test-input", "second": "Hello success"}
    assert result.result == {"result": "test-input", "second": "success"}


# -- .map() template source -------------------------------------------------------------


def mapping_id(result: Any) -> str:
    ids = [step_id for step_id in result.steps if step_id.startswith("mapping_")]
    assert len(ids) == 1, ids
    return ids[0]


async def run_template(
    harness: Harness, workflow_id: str, source: Any, fields: dict[str, str], **options: Any
) -> Any:
    """Run ``source`` then a ``.map()`` of template fields; returns (result, mapping output)."""
    spec = {key: {"template": template} for key, template in fields.items()}
    workflow = create_workflow(workflow_id).then(source).map(spec).commit()
    result = await harness.execute(workflow, options.pop("input_data", {}), **options)
    output = result.steps[mapping_id(result)].output if result.status == "success" else None
    return result, output


STRINGY = {"a": "A", "b": "B", "list": [{"name": "first"}, {"name": "second"}]}


async def test_interpolates_input_data_path(harness: Harness) -> None:
    """variable-resolution #13: interpolates ${inputData.<path>}."""
    result, output = await run_template(
        harness,
        "var-tpl-input-data",
        constant("step1", {"name": "Helsinki", "temp": 22}),
        {"summary": "${inputData.name} is ${inputData.temp}°C"},
    )
    assert result.status == "success"
    assert output == {"summary": "Helsinki is 22°C"}


async def test_interpolates_init_data_input_data_state_and_request_context(harness: Harness) -> None:
    """variable-resolution #14: interpolates ${initData.<path>}, ${inputData.<path>}, ${state.<path>},
    ${requestContext.<key>}."""

    class CityIn(BaseModel):
        city: str

    class Phase(BaseModel):
        phase: str = "initial"

    async def analyze(ctx: Any) -> Any:
        await ctx.set_state({"phase": "analyzing"})
        return {"tone": "cheerful"}

    step1 = create_step("step1", execute=analyze, state_schema=Phase)
    template = (
        "City=${initData.city} tone=${inputData.tone} phase=${state.phase} user=${requestContext.userId}"
    )
    workflow = (
        create_workflow("var-tpl-namespaces", input_schema=CityIn, state_schema=Phase)
        .then(step1)
        .map({"line": {"template": template}})
        .commit()
    )
    result = await harness.execute(workflow, {"city": "Helsinki"}, request_context={"userId": "tony"})
    assert result.status == "success"
    assert result.steps[mapping_id(result)].output == {
        "line": "City=Helsinki tone=cheerful phase=analyzing user=tony"
    }


async def test_interpolates_step_results_step_id_path_for_a_non_adjacent_step(harness: Harness) -> None:
    """variable-resolution #15: interpolates ${stepResults.<stepId>.<path>} for a non-adjacent step."""
    workflow = (
        create_workflow("var-tpl-step-results")
        .then(constant("early-step", {"value": {"nested": "deep"}}))
        .then(constant("middle-step", {"unrelated": True}))
        .map({"ref": {"template": "pulled=${stepResults.early-step.value.nested}"}})
        .commit()
    )
    result = await harness.execute(workflow, {})
    assert result.status == "success"
    assert result.steps[mapping_id(result)].output == {"ref": "pulled=deep"}


async def test_renders_null_undefined_placeholder_values_as_empty_string(harness: Harness) -> None:
    """variable-resolution #16: renders null/undefined placeholder values as empty string."""
    result, output = await run_template(
        harness,
        "var-tpl-null",
        constant("step1", {"a": "x", "b": None}),
        {"s": "a=${inputData.a} b=[${inputData.b}] c=[${inputData.missing}]"},
    )
    assert result.status == "success"
    assert output == {"s": "a=x b=[] c=[]"}


async def test_throws_when_a_placeholder_resolves_to_an_object_array(harness: Harness) -> None:
    """variable-resolution #17: throws when a placeholder resolves to an object/array."""
    result, _ = await run_template(
        harness,
        "var-tpl-object",
        constant("step1", {"obj": {"k": 1}}),
        {"s": "${inputData.obj}"},
    )
    assert result.status == "failed"
    assert result.error is not None
    assert "resolved to an object/array" in result.error["message"]


async def test_throws_when_step_results_references_a_non_existent_step(harness: Harness) -> None:
    """variable-resolution #18: throws when stepResults references a non-existent step."""
    result, _ = await run_template(
        harness,
        "var-tpl-missing-step",
        constant("step1", {"a": 1}),
        {"s": "${stepResults.nonexistent.x}"},
    )
    assert result.status == "failed"
    assert result.error is not None
    assert "stepResults.nonexistent" in result.error["message"]


async def test_resolves_an_empty_template_to_an_empty_string(harness: Harness) -> None:
    """variable-resolution #19: resolves an empty template to an empty string."""
    result, output = await run_template(harness, "var-tpl-empty", constant("step1", {"a": 1}), {"s": ""})
    assert result.status == "success"
    assert output == {"s": ""}


async def test_passes_through_templates_with_no_placeholders_verbatim(harness: Harness) -> None:
    """variable-resolution #20: passes through templates with no placeholders verbatim."""
    result, output = await run_template(
        harness, "var-tpl-literal", constant("step1", {"a": 1}), {"s": "literal-only"}
    )
    assert result.status == "success"
    assert output == {"s": "literal-only"}


async def test_handles_adjacent_placeholders_placeholder_at_start_and_placeholder_at_end(
    harness: Harness,
) -> None:
    """variable-resolution #21: handles adjacent placeholders, placeholder-at-start, and
    placeholder-at-end."""
    result, output = await run_template(
        harness,
        "var-tpl-adjacent",
        constant("stringy", STRINGY),
        {
            "adjacent": "${inputData.a}${inputData.b}",
            "start": "${inputData.a} suffix",
            "end": "prefix ${inputData.a}",
        },
    )
    assert result.status == "success"
    assert output == {"adjacent": "AB", "start": "A suffix", "end": "prefix A"}


async def test_leaves_a_stray_dollar_in_the_literal_portion_alone(harness: Harness) -> None:
    """variable-resolution #22: leaves a stray `$` in the literal portion alone."""
    result, output = await run_template(
        harness,
        "var-tpl-dollar",
        constant("stringy", STRINGY),
        {"s": "$5 then ${inputData.a}"},
    )
    assert result.status == "success"
    assert output == {"s": "$5 then A"}


async def test_supports_numeric_path_segments_array_indexing(harness: Harness) -> None:
    """variable-resolution #23: supports numeric path segments (array indexing; JS coercion there,
    list indexes here)."""
    result, output = await run_template(
        harness,
        "var-tpl-index",
        constant("stringy", STRINGY),
        {"first": "${inputData.list.0.name}", "second": "${inputData.list.1.name}"},
    )
    assert result.status == "success"
    assert output == {"first": "first", "second": "second"}


async def test_preserves_newlines_in_multiline_templates(harness: Harness) -> None:
    """variable-resolution #24: preserves newlines in multiline templates."""
    result, output = await run_template(
        harness,
        "var-tpl-multiline",
        constant("stringy", STRINGY),
        {"s": "line1=${inputData.a}\nline2=${inputData.b}"},
    )
    assert result.status == "success"
    assert output == {"s": "line1=A\nline2=B"}


async def test_resolves_templates_longer_than_the_1000_char_serialization_cap(harness: Harness) -> None:
    """variable-resolution #25: resolves templates longer than the 1000-char serialization cap."""
    filler = "x" * 1200
    result, output = await run_template(
        harness,
        "var-tpl-long",
        constant("stringy", STRINGY),
        {"s": filler + "value=${inputData.a}"},
    )
    assert result.status == "success"
    assert len(output["s"]) > 1000
    assert output["s"] == filler + "value=A"


def template_map(workflow_id: str, template: str) -> Any:
    return create_workflow(workflow_id).then(constant("stepA", {"a": 1})).map({"bad": {"template": template}})


async def test_throws_at_workflow_definition_time_when_a_placeholder_has_whitespace_inside(
    harness: Harness,
) -> None:
    """variable-resolution #26: throws at workflow-definition time when a placeholder has whitespace
    inside."""
    with pytest.raises(errors.WorkflowDefinitionError, match="whitespace-padded"):
        template_map("var-tpl-def-whitespace", "${ inputData.x }")


async def test_throws_at_workflow_definition_time_when_a_placeholder_is_empty(harness: Harness) -> None:
    """variable-resolution #27: throws at workflow-definition time when a placeholder is empty."""
    with pytest.raises(errors.WorkflowDefinitionError, match="empty or whitespace-padded"):
        template_map("var-tpl-def-empty", "a${}b")


async def test_throws_at_workflow_definition_time_on_an_unknown_namespace(harness: Harness) -> None:
    """variable-resolution #28: throws at workflow-definition time on an unknown namespace."""
    with pytest.raises(errors.WorkflowDefinitionError, match='unknown namespace "nope"'):
        template_map("var-tpl-def-namespace", "${nope.x}")


async def test_accepts_a_bare_step_results_step_id_placeholder_at_workflow_definition_time(
    harness: Harness,
) -> None:
    """variable-resolution #29: accepts a bare ${stepResults.<stepId>} placeholder at workflow-definition time
    (scalar path)."""
    workflow = template_map("var-tpl-def-bare", "${stepResults.stepA}").commit()
    assert workflow.committed


async def test_throws_at_workflow_definition_time_when_step_results_placeholder_has_no_step_id(
    harness: Harness,
) -> None:
    """variable-resolution #30: throws at workflow-definition time when stepResults placeholder has
    no step id."""
    with pytest.raises(errors.WorkflowDefinitionError, match=r"stepResults\.<stepId>"):
        template_map("var-tpl-def-no-step", "${stepResults.}")
