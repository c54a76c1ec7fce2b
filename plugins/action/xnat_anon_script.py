# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""Controller side of xnat_anon_script: read ``src`` files and parse every DicomEdit script with the
project's loader (the same as the enclave CLI's) before the module, and so any request to XNAT, runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

NOTHING_SENT = "Nothing was sent to XNAT."


def load_loader():
    """compliance.dicomedit's script loader, imported lazily: a controller-side dependency."""
    try:
        from compliance.dicomedit import (  # noqa: PLC0415 - controller-only dependency
            ScriptError,
            load_script_text,
            refuse_unknown_functions,
        )
    except ImportError as error:
        raise AnsibleActionFail(
            "xnat_anon_script parses DicomEdit scripts on the controller and needs the xnat-enclave "
            "'compliance' package there (install the repository with 'pip install -e .' into the Python "
            "that runs ansible-playbook): %s. %s" % (error, NOTHING_SENT)
        ) from None

    def load(text, source):
        """Parse the script; refuse it when XNAT could not run it."""
        return refuse_unknown_functions(load_script_text(text, source), source)

    return load, ScriptError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        load, script_error = load_loader()
        if not isinstance(args.get("scripts"), list):
            raise AnsibleActionFail("scripts must be a list of {scope, project, script|src, enabled}")
        args["scripts"] = [
            self._prepare(dict(item), load, script_error, "scripts[%d]" % index)
            for index, item in enumerate(args["scripts"])
        ]
        result.update(
            self._execute_module(
                module_name=self._task.resolved_action or "xnat_enclave.xnat.xnat_anon_script",
                module_args=args,
                task_vars=task_vars,
            )
        )
        return result

    def _prepare(self, item, load, script_error, where):
        """Replace src by the file's text, then parse the script; fail on any syntax error."""
        if not isinstance(item, dict):
            raise AnsibleActionFail("%s: expected a dict with scope, project, script|src, enabled" % where)
        src = item.pop("src", None)
        if src and item.get("script") is not None:
            raise AnsibleActionFail("%s: give either script or src, not both" % where)
        source = "%s (%s)" % (where, self._label(item))
        if src:
            path = self._find_needle("files", src)
            with open(path, "rb") as handle:
                item["script"] = to_text(handle.read(), errors="surrogate_or_strict")
            source = path
        if item.get("script") is not None:
            self._parse(item["script"], source, load, script_error)
        return item

    @staticmethod
    def _label(item):
        if item.get("project"):
            return "project %s" % item["project"]
        return "%s script" % item.get("scope", "project")

    @staticmethod
    def _parse(text, source, load, script_error):
        try:
            load(to_text(text), source)
        except script_error as error:
            raise AnsibleActionFail("DicomEdit script rejected: %s. %s" % (error, NOTHING_SENT)) from None
