"""Delivery around the engine: events in from a partitioned log (`source`, with NATS
JetStream in `jetstream`), workers that process them and acknowledge after commit (`worker`),
and decisions out through the transactional outbox (`relay`, `sinks`). A layer above the
engine: it uses the engine's and the stores' public APIs only."""
