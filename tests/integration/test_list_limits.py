"""List replies stay under the 4 MiB every gRPC client accepts by default
(ArmoniK.Core fails such ListTasksDetailed pages)."""

from __future__ import annotations

from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import Task, TaskDefinition


def test_detailed_page_too_big_for_one_message_is_shortened_not_failed(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    dependency_ids = list(results.create_results_metadata([f"d{i}" for i in range(1000)], session_id).values())
    payload = results.create_results({"p": b"x"}, session_id)["p"].result_id
    outputs = results.create_results_metadata([f"o{i}" for i in range(150)], session_id).values()
    heavy = [
        TaskDefinition(payload, [o.result_id], [d.result_id for d in dependency_ids])  # ~40 KB each once detailed
        for o in outputs
    ]
    tasks.submit_tasks(session_id, heavy, chunk_size=50)

    total, page = tasks.list_tasks(Task.session_id == session_id, page_size=150, detailed=True)

    assert total == 150
    assert 0 < len(page) < 150
    assert all(len(t.data_dependencies) == 1000 for t in page)
