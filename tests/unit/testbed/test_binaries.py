from pathlib import Path

from asyncaction_testbed.binaries import cache_dir, locate, search_dirs


def make_exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_order_is_assets_then_path_then_cache(tmp_path: Path) -> None:
    assets, on_path, cache = tmp_path / "assets", tmp_path / "bin", tmp_path / "cache"
    make_exe(assets / "kube-apiserver")
    make_exe(on_path / "kube-apiserver")
    make_exe(on_path / "etcd")
    make_exe(cache / "bin" / "kube-controller-manager")
    make_exe(cache / "bin" / "etcd")
    env = {"KUBEBUILDER_ASSETS": str(assets), "PATH": str(on_path)}
    found = locate(search_dirs(env, cache))
    assert found == {
        "kube-apiserver": assets / "kube-apiserver",
        "etcd": on_path / "etcd",
        "kube-controller-manager": cache / "bin" / "kube-controller-manager",
    }


def test_non_executables_do_not_count(tmp_path: Path) -> None:
    (tmp_path / "etcd").write_text("")
    assert locate([tmp_path]) == {}


def test_cache_dir_respects_xdg(tmp_path: Path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "asyncaction" / "kube-1.20"
