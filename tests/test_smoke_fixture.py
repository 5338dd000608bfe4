def test_started_plan_shows_every_stream_starting(started):
    reply = started("status")
    assert [s.status for s in reply.body.streams] == ["Starting", "Starting", "Starting"]
    assert reply.body.counts.ready == 21  # 24 tasks, 3 wait for a coordination action
