"""vltava-chaos: runs Vltava under faults with real clients, records every
client operation as a history, and checks the history afterwards.

Modules, in the order a run uses them:
  node      -- a `vltava server` process and the faults it can suffer
  nemesis   -- the seeded fault schedule and the thread that applies it
  workloads -- producers, group consumers, transactional read-process-write,
               admin churn (confluent-kafka, i.e. librdkafka)
  history   -- the JSON-lines history every operation is written to
  checker   -- the checkers; they read only the history and the final reads
  report    -- verdict, counts and plots written next to the history
  cli       -- `tools/chaos/run`
"""
