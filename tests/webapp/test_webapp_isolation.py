"""Each web app test gets a fresh instance folder (flaskr's pattern): nothing leaks between tests."""

from __future__ import annotations

from pathlib import Path

from provenance import Registry, Settings, TokenStore


def test_the_instance_folder_is_this_tests_own(web_settings: Settings, tmp_path: Path, media) -> None:
    assert web_settings.instance_path.parent == tmp_path
    with Registry.open(web_settings) as registry:
        assert registry.count_stamps() == 2  # the session's stamped media, and nothing any test added
        assert registry.get_stamp(media.stamp_id) is not None
        TokenStore(registry).create("admin", label="left behind on purpose")


def test_a_token_made_by_the_previous_test_is_not_here(tokens: TokenStore) -> None:
    assert tokens.list() == []
