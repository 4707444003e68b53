# Two commands do all the set-up from a fresh clone (see README.md).
.PHONY: run test setup bench
run:    ## create/reuse .venv, install, import the raw data, dvc repro
	scripts/run.sh
test:   ## create/reuse .venv, install, run the test suite
	scripts/test.sh
setup:  ## only create/reuse the virtualenv
	scripts/setup.sh
bench:  ## data-stage benchmark (results go to bench/RESULTS.md by hand)
	scripts/setup.sh && . scripts/env.sh && python bench/bench_data.py
