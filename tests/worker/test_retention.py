"""Workspace retention: finished workspaces are archived as artifacts, then deleted."""

from __future__ import annotations

import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cape.artifacts import ArtifactStore
from cape.db.engine import create_engine, session_factory
from cape.db.models import Task
from cape.settings import Settings
from worker.retention import ARCHIVE_NAME, sweep_workspaces


async def test_sweep_archives_old_finished_workspaces_and_keeps_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path / "data", workspace_retention_hours=24
    )
    engine = create_engine(settings)
    sessions = session_factory(engine)
    store = ArtifactStore(sessions, settings.artifact_root)
    now = datetime.now(UTC)
    cases = {
        "old": ("succeeded", now - timedelta(hours=48)),
        "recent": ("failed", now - timedelta(hours=1)),
        "running": ("running", None),
    }
    ids = {}
    async with sessions.begin() as session:
        for label, (status, finished) in cases.items():
            task_id = f"ret-{label}-{uuid.uuid4().hex[:8]}"
            ids[label] = task_id
            session.add(
                Task(
                    id=task_id,
                    agent="assistant",
                    agent_version="0.1.0",
                    owner="t",
                    team_id="team_t",
                    status=status,
                    input={},
                    model="m",
                    max_steps=1,
                    finished_at=finished,
                )
            )
            workspace = settings.workspace_root / task_id
            (workspace / "output").mkdir(parents=True)
            (workspace / "output" / "result.txt").write_text(label)
    orphan = settings.workspace_root / "not-a-task"
    orphan.mkdir()

    report = await sweep_workspaces(settings, sessions, store, now=now)

    assert report.deleted == [ids["old"]]
    assert not (settings.workspace_root / ids["old"]).exists()
    for label in ("recent", "running"):
        assert (settings.workspace_root / ids[label] / "output" / "result.txt").exists()
    assert orphan.exists()  # unknown directories are not ours to delete
    (archive,) = await store.list(ids["old"])
    assert archive.name == ARCHIVE_NAME
    with tarfile.open(store.path(archive)) as tar:
        member = tar.extractfile("workspace/output/result.txt")
        assert member is not None and member.read() == b"old"

    again = await sweep_workspaces(settings, sessions, store, now=now)
    assert again.deleted == []
    await engine.dispose()


async def test_sweep_of_a_fresh_data_dir_without_workspaces_is_empty(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "fresh")
    engine = create_engine(settings)
    store = ArtifactStore(session_factory(engine), settings.artifact_root)
    try:
        report = await sweep_workspaces(settings, session_factory(engine), store)
    finally:
        await engine.dispose()
    assert not settings.workspace_root.exists()
    assert (report.kept, report.archived, report.deleted) == (0, [], [])
