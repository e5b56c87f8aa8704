# fleetanalysis: the verbs a newcomer needs. `make help` lists them.
# Only Python 3.11+ and make are needed; everything else goes into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FA     := $(BIN)/fleetanalysis
STAMP  := $(VENV)/.installed
EXTRAS ?= test,scale
# Refresh the release catalog when the network answers, within a few seconds; offline it
# says so in one line and the run goes on with the catalog it has.
REFRESH = $(FA) catalog update --if-online --budget 8 --timeout 4

.DEFAULT_GOAL := help
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
SHOT     := docs/report.png

.PHONY: help report test lab demo ingest bench weekly clean screenshot

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fleetanalysis needs Python 3.11 or newer; set PYTHON=python3.11")'
	@echo "setting up $(VENV): pandas, Jupyter, matplotlib and the rest (a few minutes the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing fleetanalysis with extras $(EXTRAS) into $(VENV)"
	@$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@$(BIN)/python -m ipykernel install --sys-prefix --name fleetanalysis --display-name "Python (fleetanalysis)" >/dev/null
	@echo "registered the Jupyter kernel 'Python (fleetanalysis)'"
	@touch $(STAMP)

# A log file that cannot be read (named on stderr) still lets the others be ingested and
# reported, then fails the target.
report: $(STAMP)  ## refresh the catalog if online, ingest the logs (demo data when none), write the HTML report
	@$(REFRESH)
	@ingested=0; $(FA) ingest || ingested=$$?; \
	$(FA) report && exit $$ingested

test: $(STAMP)  ## run the whole suite: unit tests, doctests and the notebooks
	$(BIN)/pytest

lab: $(STAMP)  ## JupyterLab on the notebooks, with the project's own kernel (ingests the logs first)
	@$(FA) ingest >/dev/null
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

demo: $(STAMP)  ## (re)write the synthetic demo organisation under data/demo
	$(FA) demo

# A failed Slack fetch (a configured Slack source without its token, Slack down) or a log
# file that cannot be read still lets the other logs be ingested and reported, then fails
# the job so cron or systemd shows it.
weekly: $(STAMP)  ## the scheduled job: refresh the catalog, fetch Slack logs when configured, ingest, report
	$(REFRESH)
	@fetched=0; ingested=0; $(FA) fetch slack --if-configured || fetched=$$?; \
	$(FA) ingest || ingested=$$?; \
	$(FA) report && exit $$(( fetched ? fetched : ingested ))

screenshot: $(STAMP)  ## rebuild docs/report.png: the demo report's first screen in headless Chromium
	@test -n "$(CHROMIUM)" || { echo "make screenshot: Chromium not found; install it (apt-get install chromium) or set CHROMIUM=/path/to/chrome" >&2; exit 2; }
	@rm -rf .screenshot && mkdir -p .screenshot
	@echo "writing a demo organisation and its report under .screenshot/"
	@$(BIN)/python -c 'import sys; from pathlib import Path; from fleetanalysis import demo, sources, store; \
	out = Path(sys.argv[1]); demo.write(out); store.merge(out / "access.parquet", sources.load([out / "slack"]))' .screenshot
	@$(FA) report --store .screenshot/access.parquet --directory .screenshot/directory.csv \
	  --networks .screenshot/networks.csv --out .screenshot/reports > .screenshot/page
	@echo "taking the screenshot with $(CHROMIUM)"
	@$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1350 \
	  --screenshot=$(SHOT) "file://$$(realpath $$(cat .screenshot/page))" 2>/dev/null
	@rm -rf .screenshot
	@echo "$(SHOT)"

bench: $(STAMP)  ## run the speed and accuracy benchmarks (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py

clean:  ## remove derived files (keeps data/raw and .venv)
	rm -rf data/demo data/processed/*.parquet data/processed/*.csv reports/*/ reports/index.html .screenshot
