"""The program (and subcommand) a command line runs: wrappers skipped, runners resolved, builtins not tools."""

from __future__ import annotations

import pytest

from agent.commandline import Command, parse_command, vocabulary

TABLE = [  # (command line, tool, subcommand); tool None: no run is recorded
    ("pytest -x tests/secret_name.py", "pytest", None),
    ("FOO=1 BAR=2 sudo -E ./scripts/deploy.sh --password hunter2", "deploy.sh", None),
    ("python3 -m pytest -q tests/", "pytest", None),
    ("python -m pip install -r requirements.txt", "pip", "install"),
    ("python3.12 -m http.server 8000", "http.server", None),
    ("python3 -W error -X dev -m mypy .", "mypy", None),
    ("python3 -um pytest", "pytest", None),
    ("python3 train.py --epochs 3", "train.py", None),
    ("python3 -c 'print(1)'", "python3", None),
    ("python3", "python3", None),
    ("/usr/bin/python3 ./scripts/clean_data.py in.csv", "clean_data.py", None),
    ("for f in *.csv; do python3 x.py $f; done", None, None),
    ("if make; then echo ok; fi", None, None),
    ("while true; do sleep 1; done", None, None),
    ("cd ~/projects/thesis", None, None),
    ("export PATH=$PATH:/opt/bin", None, None),
    ("source .venv/bin/activate", None, None),
    (". ~/.bashrc", None, None),
    ("echo hello > out.txt", None, None),
    ("true", None, None),
    ("/bin/true --token=hunter2", "true", None),
    ("[[ -f x ]] && make", None, None),
    ("X=1", None, None),
    ("sudo -u bob whoami", "whoami", None),
    ("sudo -Eu bob whoami", "whoami", None),
    ("sudo --user=bob -H vim /etc/hosts", "vim", None),
    ("sudo -i", "sudo", None),
    ("sudo apt-get install -y zsh", "apt-get", "install"),
    ("doas -u root make install", "make", "install"),
    ("nice -n 19 make -j4 test", "make", "test"),
    ("nice -19 make", "make", None),
    ("ionice -c3 -n 7 rsync -a src/ dst/", "rsync", None),
    ("env -u VAR FOO=1 node server.js", "server.js", None),
    ("env -i PATH=/bin ls -la", "ls", None),
    ("env -C /tmp git status", "git", "status"),
    ("exec -a NAME ssh host", "ssh", None),
    ("exec > log.txt", None, None),
    ("command git push", "git", "push"),
    ("command -v git", None, None),
    ("builtin cd /tmp", None, None),
    ("nohup ./server.sh > /dev/null 2>&1 &", "server.sh", None),
    ("time -p cargo build --release", "cargo", "build"),
    ("time make", "make", None),
    ("xargs -n1 -I{} rm {}", "rm", None),
    ("stdbuf -oL tail -f app.log", "tail", None),
    ("timeout 10 curl https://example.com/secret?token=x", "curl", None),
    ("timeout -s KILL 5s ./long_job --flag", "long_job", None),
    ("timeout --signal=TERM 30 pytest", "pytest", None),
    ("watch -n 2 kubectl get pods", "kubectl", "get"),
    ("npx eslint src/", "eslint", None),
    ("npx -y prettier@3.1 --write .", "prettier", None),
    ("npx @angular/cli@17 new app", "@angular/cli", None),
    ("npx create-react-app@5 my-secret-app", "create-react-app", None),
    ("uv run pytest -x", "pytest", None),
    ("uv run --with rich python -m mymod", "mymod", None),
    ("uv pip install -e .", "uv", "pip"),
    ("uv sync", "uv", "sync"),
    ("uvx ruff check .", "ruff", None),
    ("poetry run python manage.py migrate", "manage.py", None),
    ("poetry install", "poetry", "install"),
    ("pipenv run pytest", "pytest", None),
    ("bundle exec rspec spec/models", "rspec", None),
    ("bundle install", "bundle", None),
    ("pnpm exec vitest", "vitest", None),
    ("pnpm dlx create-vite my-app", "create-vite", None),
    ("npm exec -- tsc --noEmit", "tsc", None),
    ("conda run -n ml python train.py", "train.py", None),
    ("git commit -m 'a secret message'", "git", "commit"),
    ("git -C ~/projects/thesis log --oneline", "git", "log"),
    ("git -c user.name=x push origin main", "git", "push"),
    ("git frobnicate", "git", None),
    ("git", "git", None),
    ("cargo test --workspace", "cargo", "test"),
    ("cargo +nightly fmt", "cargo", None),
    ("npm run build", "npm", "run"),
    ("npm test", "npm", "test"),
    ("npm ci", "npm", "ci"),
    ("yarn add lodash", "yarn", "add"),
    ("yarn dev", "yarn", None),
    ("make", "make", None),
    ("make -C build all", "make", "all"),
    ("make deploy-secret-target", "make", None),
    ("docker build -t me/app:1 .", "docker", "build"),
    ("docker compose up -d", "docker", "compose"),
    ("docker-compose -f dev.yml up", "docker-compose", "up"),
    ("terraform plan -out=tfplan", "terraform", "plan"),
    ("terraform -chdir=infra apply", "terraform", "apply"),
    ("kubectl apply -f deploy.yaml", "kubectl", "apply"),
    ("kubectl -n prod get pods", "kubectl", "get"),
    ("helm upgrade --install app ./chart", "helm", "upgrade"),
    ("go test ./...", "go", "test"),
    ("pip3 install requests", "pip3", "install"),
    ("gh pr create --title x", "gh", "pr"),
    ("systemctl --user restart floyo-agent", "systemctl", "restart"),
    ("./gradlew build", "gradlew", "build"),
    ("mvn -pl core clean install", "mvn", "clean"),
    ("ls -la ~/secret-folder", "ls", None),
    ("vim notes.md", "vim", None),
    ("code .", "code", None),
    ("rg -n TODO src", "rg", None),
    ("cat a.txt | grep x | sort", "cat", None),
    ("grep -r password . ; ls", "grep", None),
    ("( cd sub && make test )", None, None),
    ("{ make; }", "make", None),
    ("! pytest", "pytest", None),
    ("bash ./build.sh", "build.sh", None),
    ("bash -c 'echo hi'", "bash", None),
    ("sh -x deploy.sh", "deploy.sh", None),
    ("node --require ts-node/register app.ts", "app.ts", None),
    ("node -e 'console.log(1)'", "node", None),
    ("Rscript analysis.R", "analysis.R", None),
    ("$EDITOR notes.md", None, None),
    ("echo 'unterminated", None, None),
    ("  ", None, None),
    ("LANG=C sort -u names.txt", "sort", None),
    ("sudo -- rm -rf /tmp/x", "rm", None),
    ("ccache gcc -c main.c", "gcc", None),
    ("xvfb-run -a pytest tests/e2e", "pytest", None),
    ("flock /tmp/lock rsync a b", "rsync", None),
    ("taskset -c 0-3 python3 bench.py", "bench.py", None),
    ("dvc repro", "dvc", "repro"),
    ("floyo agent status", "floyo", "agent"),
]


@pytest.mark.parametrize(("line", "tool", "subcommand"), TABLE)
def test_the_real_program_of_a_command_line(line: str, tool: str | None, subcommand: str | None) -> None:
    assert parse_command(line) == (None if tool is None else Command(tool, subcommand))


def test_the_table_is_large_and_no_argument_is_ever_kept() -> None:
    assert len(TABLE) >= 60
    secrets = ("hunter2", "secret", "token", "password", "my-app", "main.c")
    for line, tool, _ in TABLE:
        command = parse_command(line)
        kept = "" if command is None else f"{command.tool} {command.subcommand or ''}"
        assert not any(s in kept for s in secrets if s not in (tool or "")), line


def test_subcommands_come_from_the_shipped_vocabulary_only() -> None:
    vocab = vocabulary()
    assert "commit" in vocab.subcommands["git"].words
    assert parse_command("git commit") == Command("git", "commit")
    assert parse_command("git my-private-alias") == Command("git", None)
    for spec in vocab.subcommands.values():
        assert spec.words, "every tool with subcommands lists them"
        assert all(w and " " not in w and not w.startswith("-") for w in spec.words)
