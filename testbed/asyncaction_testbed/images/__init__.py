"""The project's container images, built on this machine without a registry or an engine.

The operator+hook image, the Python and Node job images and the pause image are OCI
archives (``asyncaction_testbed.oci``) cached under ``~/.cache/asyncaction/images`` by
content, and imported into the real node's containerd. One module per step:

* ``recipes``: what each image holds; ``build_all`` / ``build_python_image`` /
  ``build_pause_image`` (``python -m asyncaction_testbed.images build`` prints sizes);
* ``job_node``: the Node job image (Debian's Node.js and ``clients/node``);
* ``debian_base``: the Debian root filesystem layer from ``mmdebstrap``;
* ``project_layer``: the project installed by pip, staged for a Python image;
* ``cache``: content keys, the build lock, ``BuiltImage`` and pruning;
* ``containerd``: importing a built image into the node's containerd.
"""
