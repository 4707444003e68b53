# Two commands do all the set-up from a fresh clone (see README.md).
.PHONY: run test setup push bench
run:    ## create/reuse .venv, install, bring the raw data, dvc repro (pulling what the remote has), dvc push
	scripts/run.sh
test:   ## create/reuse .venv, install, run the test suite
	scripts/test.sh
setup:  ## only create/reuse the virtualenv
	scripts/setup.sh
push:   ## push the data imports, every stage output and the run-cache to the DVC remote (make run ends with it)
	scripts/setup.sh && scripts/push.sh
bench:  ## data-stage benchmark (results go to docs/EXPERIMENTS.md by hand)
	scripts/setup.sh && . scripts/env.sh && python bench/bench_data.py
