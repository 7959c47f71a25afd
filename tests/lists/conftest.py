import pytest


@pytest.fixture(autouse=True)
def _import_dir(request, tmp_path):
    """Uploads and error files of these tests go to a temporary folder."""
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.config["IMPORT_DIR"] = str(tmp_path / "imports")
