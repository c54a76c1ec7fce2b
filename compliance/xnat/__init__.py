"""How the enclave CLI reaches XNAT: one xnatpy login, and the route table the Ansible modules use.

``routes`` is the collection's ``plugins/module_utils/xnat_routes.py`` (a link, so the CLI and the
modules cannot disagree on a URL); ``session`` logs in and reads by route template.
"""
