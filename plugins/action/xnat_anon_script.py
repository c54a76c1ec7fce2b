# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""Controller side of xnat_anon_script: read ``src`` files and parse every DicomEdit script
with the project's parser before the module (and so any request to XNAT) runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

NOTHING_SENT = "Nothing was sent to XNAT."


def load_parser():
    """compliance.dicomedit.parse, imported lazily: the parser is a controller-side dependency."""
    try:
        from compliance.dicomedit import DicomEditSyntaxError, parse  # noqa: PLC0415 - controller-only dependency
    except ImportError as error:
        raise AnsibleActionFail(
            "xnat_anon_script parses DicomEdit scripts on the controller and needs the xnat-enclave "
            "'compliance' package there (install the repository with 'pip install -e .' into the Python "
            "that runs ansible-playbook): %s. %s" % (error, NOTHING_SENT)
        ) from error
    return parse, DicomEditSyntaxError


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        parse, syntax_error = load_parser()
        if args.get("projects") is not None:
            if not isinstance(args["projects"], list):
                raise AnsibleActionFail("projects must be a list of {project, script|src, enabled}")
            args["projects"] = [
                self._prepare(dict(item), parse, syntax_error, "projects[%d]" % index)
                for index, item in enumerate(args["projects"])
            ]
        else:
            args = self._prepare(args, parse, syntax_error, "task")
        result.update(
            self._execute_module(module_name="xnat_anon_script", module_args=args, task_vars=task_vars)
        )
        return result

    def _prepare(self, item, parse, syntax_error, where):
        """Replace src by the file's text, then parse the script; fail on any syntax error."""
        if not isinstance(item, dict):
            raise AnsibleActionFail("%s: expected a dict with project, script|src, enabled" % where)
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
            self._parse(item["script"], source, parse, syntax_error)
        return item

    @staticmethod
    def _label(item):
        if item.get("project"):
            return "project %s" % item["project"]
        return "%s script" % item.get("scope", "site")

    @staticmethod
    def _parse(text, source, parse, syntax_error):
        try:
            parse(to_text(text), source=source)
        except syntax_error as error:
            raise AnsibleActionFail(
                "DicomEdit script rejected by the parser: %s. %s" % (error, NOTHING_SENT)
            ) from error
