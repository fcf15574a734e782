# One image for every PyArmoniK process: `pyarmonik local`, and later the
# control plane, agents and operator. Workers bring their own image.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pyarmonik ./pyarmonik
RUN pip install --no-cache-dir .

# The examples let `pyarmonik local --demo` run in the container too.
COPY examples ./examples

RUN useradd --create-home --uid 10001 armonik
USER armonik
EXPOSE 5001
ENTRYPOINT ["pyarmonik"]
CMD ["local", "--host", "0.0.0.0", "--port", "5001", "--data-dir", "/home/armonik/data"]
