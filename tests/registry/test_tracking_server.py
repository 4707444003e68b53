"""Tracking and registry against a real `mlflow server` whose backend store is a real PostgreSQL (see conftest.py)."""

from __future__ import annotations

import psycopg2


def test_run_round_trips_through_the_server_into_postgres(tracking_server, postgres_url, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    experiment_id = mlflow.create_experiment("server-roundtrip")
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello from the client\n")
    losses = [5.0, 4.25, 3.5, 3.125]
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"lr": "0.001", "model": "vae"})
        for step, loss in enumerate(losses, start=1):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.set_tags({"task": "translation", "stage": "train"})
        mlflow.log_artifact(str(artifact), artifact_path="notes")
    run_id = run.info.run_id

    # A fresh client, reading back over HTTP only.
    client = MlflowClient(tracking_server)
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.experiment_id == experiment_id
    assert got.data.params == {"lr": "0.001", "model": "vae"}
    assert {k: got.data.tags[k] for k in ("task", "stage")} == {"task": "translation", "stage": "train"}
    history = sorted(client.get_metric_history(run_id, "loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == list(enumerate(losses, start=1))
    assert got.data.metrics["loss"] == losses[-1]
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/notes.txt"]
    downloaded = client.download_artifacts(run_id, "notes/notes.txt", str(tmp_path / "down"))
    assert open(downloaded).read() == "hello from the client\n"

    # The server really stored it in Postgres (no silent fallback to a file or SQLite store).
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT experiment_id, status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cur.fetchall() == [(int(experiment_id), "FINISHED")]
        cur.execute("SELECT step, value FROM metrics WHERE run_uuid = %s AND key = 'loss' ORDER BY step", (run_id,))
        assert cur.fetchall() == list(enumerate(losses, start=1))
    conn.close()


def test_model_version_and_alias_through_the_server(tracking_server, postgres_url):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("server-registry")
    with mlflow.start_run() as run:
        mlflow.log_text("weights would be here", "model/README.txt")
    client = MlflowClient(tracking_server)
    client.create_registered_model("seqgen-server-test")
    version = client.create_model_version(
        "seqgen-server-test", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias("seqgen-server-test", "champion", version.version)

    champion = MlflowClient(tracking_server).get_model_version_by_alias("seqgen-server-test", "champion")
    assert (champion.version, champion.run_id) == (version.version, run.info.run_id)
    assert champion.source == f"{run.info.artifact_uri}/model"
    assert "champion" in champion.aliases

    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM registered_model_aliases WHERE name = %s AND alias = 'champion'",
                    ("seqgen-server-test",))
        assert cur.fetchall() == [(int(version.version),)]
    conn.close()
