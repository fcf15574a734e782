"""Hello-world worker, written with the official ArmoniK worker SDK only.

Each task's payload is a name; its one expected output becomes a greeting.
Run by the grid: ``pyarmonik local --worker "python examples/hello_world/worker.py"``.
"""

from armonik.common import Output
from armonik.worker import TaskHandler, armonik_worker


@armonik_worker()
def processor(task_handler: TaskHandler) -> Output:
    name = task_handler.payload.decode()
    if not name:
        return Output("empty name: nobody to greet")
    task_handler.send_results({task_handler.expected_results[0]: f"Hello, {name}!".encode()})
    return Output()


if __name__ == "__main__":
    processor.run()
