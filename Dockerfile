FROM python:3.11-slim
WORKDIR /src/coopchain
# x16r_hash ships only as source: its C pool (the RPCA16 seal's 16 hash functions) is compiled at install.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY app app
COPY models models
COPY chain chain
COPY contracts contracts
COPY service service
RUN pip install --no-cache-dir . && rm -rf /src/coopchain
# The main job on the embedded default, in an empty working folder: the sample
# cooperative ships inside the package, and the ledger (SQLite) is written here.
WORKDIR /data
# The API: docker run -p 8000:8000 coopchain sh -c "coopchain demo && coopchain serve --host 0.0.0.0"
EXPOSE 8000
CMD ["coopchain", "demo"]
