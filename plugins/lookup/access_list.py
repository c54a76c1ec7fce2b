# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""The projects and approved members of a trust's access list, as xnat_project applies them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: access_list
author: xnat-enclave contributors (@xnat-enclave)
version_added: "0.1.0"
short_description: Read and validate a trust's access list; its projects with the members approved today
description:
  - Reads the access-list YAML file on the controller with the same loader as C(enclave access validate) and
    C(enclave access review) (the xnat-enclave C(compliance) package), so the same JSON schema, duplicate-key
    detection, real calendar dates and one role per user per project apply.
  - "Any problem fails the lookup, listing every problem as C(FILE:LINE:COLUMN: PATH: message), so a broken
    list stops the play before a task writes."
  - Returns one list per file, in project id order, of projects (C(id), C(name), C(description),
    C(accessibility), C(owners), C(members), C(collaborators)) with the members approved on O(today) (an
    expired approval is left out, so applying the list removes it; a project past its end date has none).
options:
  _terms:
    description: Path of the access-list file (relative paths are looked up in the role's or play's C(files)).
    required: true
    type: list
    elements: path
  today:
    description: Date (YYYY-MM-DD) to judge approvals on; default the controller's current date.
    type: str
notes:
  - The controller needs the xnat-enclave Python package (C(pip install -e .) into the Python that runs
    ansible-playbook); managed hosts need nothing.
seealso:
  - module: xnat_enclave.xnat.xnat_project
"""

EXAMPLES = r"""
- name: Apply the approved project membership
  xnat_enclave.xnat.xnat_project:
    projects: "{{ lookup('xnat_enclave.xnat.access_list', inventory_dir ~ '/access/trust-a.yml') }}"
    exclusive: true
"""

RETURN = r"""
_raw:
  description: One list of projects per file.
  type: list
  elements: list
"""

import datetime
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def load_loader():
    """compliance.access.accesslist, imported lazily: a controller-side dependency."""
    try:
        from compliance.access.accesslist import AccessListError, load_access_list  # noqa: PLC0415
    except ImportError as error:
        raise AnsibleLookupError(
            "xnat_enclave.xnat.access_list validates the access list with the xnat-enclave 'compliance' "
            "package, which the controller's Python lacks (install the repository with 'pip install -e .' "
            "into the Python that runs ansible-playbook): %s" % error
        ) from None
    return load_access_list, AccessListError


def projects_for_xnat(access, day):
    projects = []
    for project_id in sorted(access.projects):
        project = access.projects[project_id]
        item = {
            "id": project.id,
            "name": project.name,
            "description": project.description,
            "accessibility": project.accessibility,
        }
        item.update(project.approved_on(day))
        projects.append(item)
    return projects


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        day = self._judged_on(self.get_option("today"))
        load_access_list, access_list_error = load_loader()
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "files", term)
            if path is None:
                raise AnsibleLookupError(
                    "access list %s: no such file (looked in the files search path)" % (term,)
                )
            try:
                access = load_access_list(Path(path))
            except access_list_error as error:
                raise AnsibleLookupError(
                    "the access list is not valid; nothing was sent to XNAT:\n%s" % error
                ) from None
            results.append(projects_for_xnat(access, day))
        return results

    @staticmethod
    def _judged_on(text):
        if not text:
            return datetime.date.today()
        try:
            return datetime.date.fromisoformat(str(text))
        except ValueError:
            raise AnsibleLookupError(
                "access_list: today=%r is not a date in YYYY-MM-DD form" % (text,)
            ) from None
