import asyncio, os, signal, subprocess, sys, time
import httpx
from tests.harness import *
from tests.e2e.test_resume import start_task, read_until
async def test_dbg(worker, fake_llm, settings, tmp_path):
    s = settings.model_copy(update={"api_port": free_port()})
    base = f"http://127.0.0.1:{s.api_port}"
    headers = {"Authorization": f"Bearer {await new_api_key(settings)}"}
    log = open("/tmp/dbg/api.log", "wb")
    p = subprocess.Popen([sys.executable, "/tmp/dbg/run_api.py"], env=settings_env(s), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        await wait_http(f"{base}/healthz")
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as http:
            tid = await start_task(http, fake_llm, delay=4.0)
            got = []
            r = asyncio.create_task(read_until(http, f"/v1/tasks/{tid}/events", got, "task-succeeded"))
            from tests.e2e.test_resume import is_step_started
            await wait_until(lambda: asyncio.sleep(0, any(is_step_started(m, 2) for m in got)), 'x')
            p.send_signal(signal.SIGTERM)
            await asyncio.sleep(8)
            p.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1)
            print("poll", p.poll())
    finally:
        p.kill()
