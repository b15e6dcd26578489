"""PodSecurity: enforce the Pod Security Standards a namespace's labels ask for.

Rules (``staging/src/k8s.io/pod-security-admission``: ``policy/check_*.go``, ``registry.go``,
``admission/admission.go``; "Pod Security Standards", "Pod Security Admission"):

- Level from the namespace label ``pod-security.kubernetes.io/enforce``: ``privileged``
  (default: nothing checked), ``baseline``, ``restricted``; an unknown value is evaluated as
  ``restricted`` (kube fails closed). ``enforce-version`` is read as ``latest``. The ``audit`` and
  ``warn`` modes, exemptions and pod templates (which only warn) are left out.
- Pods only, CREATE, and UPDATE that matters (kube's ``isSignificantPodUpdate``: a container's
  image, the number of containers or init containers, a seccomp annotation); subresources other
  than ``ephemeralcontainers`` pass.
- Baseline checks, in kube's order: AppArmor, host namespaces, hostPort, privileged, procMount,
  seLinuxOptions, sysctls; then (baseline only; restricted has stricter versions) non-default
  capabilities, hostPath volumes, seccompProfile Unconfined.
- Restricted adds: allowPrivilegeEscalation, capabilities (drop ALL, add only
  NET_BIND_SERVICE), volume types, runAsNonRoot, runAsUser=0, seccompProfile required.
- Refusal: Forbidden ``pods "x" is forbidden: violates PodSecurity "restricted:latest":
  REASON (DETAIL), REASON (DETAIL)``, each failing check once, in the order above.

Each check is a function ``(metadata, spec) -> (reason, detail) | None``; ``CHECKS`` lists them
with their level, so a catalog bug can replace exactly one.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs

from impl.apiserver.admission._objects import annotations_of, containers, forbidden, is_kind, labels_of
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup

__all__ = ["PodSecurity", "Check", "CHECKS", "LEVELS", "ENFORCE_LABEL", "evaluate", "checks_for",
           "SignificantUpdate"]

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")
Meta = dict[str, Any]
Spec = dict[str, Any]
Failure = tuple[str, str]


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def _quote(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _containers_phrase(names: list[str]) -> str:
    return f"{_plural('container', 'containers', len(names))} {_quote(names)}"


def _context(holder: dict[str, Any] | None) -> dict[str, Any]:
    return (holder or {}).get("securityContext") or {}


# -- baseline ---------------------------------------------------------------------------------------

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _apparmor_annotation_allowed(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


def check_apparmor(meta: Meta, spec: Spec) -> Failure | None:
    setters, values = [], set()
    pod_profile = _context(spec).get("appArmorProfile")
    if pod_profile and pod_profile.get("type") not in ("RuntimeDefault", "Localhost"):
        setters.append("pod")
        values.add(str(pod_profile.get("type")))
    bad = []
    for container in containers(spec):
        profile = _context(container).get("appArmorProfile")
        if profile and profile.get("type") not in ("RuntimeDefault", "Localhost"):
            bad.append(container.get("name", ""))
            values.add(str(profile.get("type")))
    if bad:
        setters.append(_containers_phrase(bad))
    listed = sorted(values)
    annotations = sorted(f'{k}="{v}"' for k, v in annotations_of({"metadata": meta}).items()
                         if k.startswith(APPARMOR_ANNOTATION_PREFIX) and not _apparmor_annotation_allowed(v))
    if annotations:
        listed += annotations
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return (_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(listed)),
            f"{' and '.join(setters)} must not set AppArmor profile type to {_quote(listed)}")


def check_host_namespaces(meta: Meta, spec: Spec) -> Failure | None:
    used = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    return ("host namespaces", ", ".join(used)) if used else None


def check_host_ports(meta: Meta, spec: Spec) -> Failure | None:
    bad, ports = [], set()
    for container in containers(spec):
        used = [p["hostPort"] for p in container.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(container.get("name", ""))
            ports.update(str(port) for port in used)
    if not bad:
        return None
    return ("hostPort", f"{_containers_phrase(bad)} {_plural('uses', 'use', len(bad))} "
                        f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def check_privileged(meta: Meta, spec: Spec) -> Failure | None:
    bad = [c.get("name", "") for c in containers(spec) if _context(c).get("privileged") is True]
    return ("privileged", f"{_containers_phrase(bad)} must not set securityContext.privileged=true") if bad else None


def check_proc_mount(meta: Meta, spec: Spec) -> Failure | None:
    bad, kinds = [], set()
    for container in containers(spec):
        mount = _context(container).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(container.get("name", ""))
            kinds.add(mount)
    if not bad:
        return None
    return ("procMount", f"{_containers_phrase(bad)} must not set securityContext.procMount to {_quote(sorted(kinds))}")


SELINUX_TYPES_ALLOWED = ("", "container_t", "container_init_t", "container_kvm_t")


def check_selinux(meta: Meta, spec: Spec) -> Failure | None:
    types: set[str] = set()
    flags = {"user": False, "role": False}

    def bad_options(options: dict[str, Any] | None) -> bool:
        if options is None:
            return False
        valid = options.get("type", "") in SELINUX_TYPES_ALLOWED
        if not valid:
            types.add(options.get("type", ""))
        for field in ("user", "role"):
            if options.get(field):
                flags[field], valid = True, False
        return not valid

    setters = ["pod"] if bad_options(_context(spec).get("seLinuxOptions")) else []
    bad = [c.get("name", "") for c in containers(spec) if bad_options(_context(c).get("seLinuxOptions"))]
    if bad:
        setters.append(_containers_phrase(bad))
    if not setters:
        return None
    data = [f"{_plural('type', 'types', len(types))} {_quote(sorted(types))}"] if types else []
    if types:  # kube lists user and role only beside a bad type
        data += [f"{field} may not be set" for field in ("user", "role") if flags[field]]
    return ("seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}")


SAFE_SYSCTLS = ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")


def check_sysctls(meta: Meta, spec: Spec) -> Failure | None:
    bad = [s.get("name", "") for s in _context(spec).get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


BASELINE_CAPABILITIES = ("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")


def _added_outside(spec: Spec, allowed: tuple[str, ...]) -> tuple[list[str], list[str]]:
    bad, capabilities = [], set()
    for container in containers(spec):
        extra = [c for c in (_context(container).get("capabilities") or {}).get("add") or [] if c not in allowed]
        if extra:
            bad.append(container.get("name", ""))
            capabilities.update(extra)
    return bad, sorted(capabilities)


def check_capabilities_baseline(meta: Meta, spec: Spec) -> Failure | None:
    bad, capabilities = _added_outside(spec, BASELINE_CAPABILITIES)
    if not bad:
        return None
    return ("non-default capabilities",
            f"{_containers_phrase(bad)} must not include {_quote(capabilities)} in securityContext.capabilities.add")


def check_host_path_volumes(meta: Meta, spec: Spec) -> Failure | None:
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    return ("hostPath volumes", f"{_plural('volume', 'volumes', len(bad))} {_quote(bad)}") if bad else None


def _seccomp_bad(holder: dict[str, Any] | None) -> str | None:
    profile = _context(holder).get("seccompProfile")
    if profile is None or profile.get("type") in ("RuntimeDefault", "Localhost"):
        return None
    return str(profile.get("type"))


def _seccomp_setters(spec: Spec) -> tuple[list[str], set[str]]:
    setters, values = [], set()
    if (value := _seccomp_bad(spec)) is not None:
        setters.append("pod")
        values.add(value)
    bad = []
    for container in containers(spec):
        if (value := _seccomp_bad(container)) is not None:
            bad.append(container.get("name", ""))
            values.add(value)
    if bad:
        setters.append(_containers_phrase(bad))
    return setters, values


def check_seccomp_baseline(meta: Meta, spec: Spec) -> Failure | None:
    setters, values = _seccomp_setters(spec)
    if not setters:
        return None
    return ("seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")


# -- restricted -------------------------------------------------------------------------------------

def check_allow_privilege_escalation(meta: Meta, spec: Spec) -> Failure | None:
    if ((spec.get("os") or {}).get("name")) == "windows":
        return None
    bad = [c.get("name", "") for c in containers(spec) if _context(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return ("allowPrivilegeEscalation != false",
            f"{_containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false")


def check_capabilities_restricted(meta: Meta, spec: Spec) -> Failure | None:
    if ((spec.get("os") or {}).get("name")) == "windows":
        return None
    missing_drop = [c.get("name", "") for c in containers(spec)
                    if "ALL" not in ((_context(c).get("capabilities") or {}).get("drop") or [])]
    adding, capabilities = _added_outside(spec, ("NET_BIND_SERVICE",))
    details = []
    if missing_drop:
        details.append(f'{_containers_phrase(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_containers_phrase(adding)} must not include {_quote(capabilities)} in "
                       "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


ALLOWED_VOLUME_TYPES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                        "projected", "secret")


def check_restricted_volumes(meta: Meta, spec: Spec) -> Failure | None:
    bad, kinds = [], set()
    for volume in spec.get("volumes") or []:
        sources = [key for key, value in volume.items() if key != "name" and value is not None]
        if not any(source in ALLOWED_VOLUME_TYPES for source in sources):
            bad.append(volume.get("name", ""))
            kinds.update(sources)
    if not bad:
        return None
    return ("restricted volume types",
            f"{_plural('volume', 'volumes', len(bad))} {_quote(bad)} {_plural('uses', 'use', len(bad))} "
            f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} {_quote(sorted(kinds))}")


def check_run_as_non_root(meta: Meta, spec: Spec) -> Failure | None:
    pod_value = _context(spec).get("runAsNonRoot")
    setters = ["pod"] if pod_value is False else []
    explicit = [c.get("name", "") for c in containers(spec) if _context(c).get("runAsNonRoot") is False]
    implicit = [c.get("name", "") for c in containers(spec)
                if _context(c).get("runAsNonRoot") is None and pod_value is not True]
    if explicit:
        setters.append(_containers_phrase(explicit))
    if setters:
        return ("runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true", f"pod or {_containers_phrase(implicit)} must set securityContext.runAsNonRoot=true")
    return None


def check_run_as_user(meta: Meta, spec: Spec) -> Failure | None:
    setters = ["pod"] if _context(spec).get("runAsUser") == 0 else []
    bad = [c.get("name", "") for c in containers(spec) if _context(c).get("runAsUser") == 0]
    if bad:
        setters.append(_containers_phrase(bad))
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def check_seccomp_restricted(meta: Meta, spec: Spec) -> Failure | None:
    if ((spec.get("os") or {}).get("name")) == "windows":
        return None
    setters, values = _seccomp_setters(spec)
    if setters:
        return ("seccompProfile",
                f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")
    pod_set = _context(spec).get("seccompProfile") is not None
    implicit = [c.get("name", "") for c in containers(spec) if _context(c).get("seccompProfile") is None and not pod_set]
    if not implicit:
        return None
    return ("seccompProfile", f'pod or {_containers_phrase(implicit)} must set securityContext.seccompProfile.type '
                              'to "RuntimeDefault" or "Localhost"')


# -- the registry -----------------------------------------------------------------------------------

@attrs.frozen
class Check:
    id: str
    level: str  # "baseline" | "restricted"
    run: Callable[[Meta, Spec], "Failure | None"]
    overlap: bool = False  # a baseline check that restricted replaces with a stricter one


CHECKS: tuple[Check, ...] = (  # registration order: kube's file names, alphabetically
    Check("allowPrivilegeEscalation", "restricted", check_allow_privilege_escalation),
    Check("appArmorProfile", "baseline", check_apparmor),
    Check("capabilities_baseline", "baseline", check_capabilities_baseline, overlap=True),
    Check("capabilities_restricted", "restricted", check_capabilities_restricted),
    Check("hostNamespaces", "baseline", check_host_namespaces),
    Check("hostPathVolumes", "baseline", check_host_path_volumes, overlap=True),
    Check("hostPorts", "baseline", check_host_ports),
    Check("privileged", "baseline", check_privileged),
    Check("procMount", "baseline", check_proc_mount),
    Check("restrictedVolumes", "restricted", check_restricted_volumes),
    Check("runAsNonRoot", "restricted", check_run_as_non_root),
    Check("runAsUser", "restricted", check_run_as_user),
    Check("seLinuxOptions", "baseline", check_selinux),
    Check("seccompProfile_baseline", "baseline", check_seccomp_baseline, overlap=True),
    Check("seccompProfile_restricted", "restricted", check_seccomp_restricted),
    Check("sysctls", "baseline", check_sysctls),
)


def checks_for(level: str, checks: tuple[Check, ...] = CHECKS) -> list[Check]:
    """registry.EvaluatePod's order: plain baseline checks, then the overlapping baseline ones
    (baseline) or the restricted ones (restricted)."""
    if level == "privileged":
        return []
    plain = [c for c in checks if c.level == "baseline" and not c.overlap]
    if level == "baseline":
        return plain + [c for c in checks if c.level == "baseline" and c.overlap]
    return plain + [c for c in checks if c.level == "restricted"]


def evaluate(level: str, meta: Meta, spec: Spec, checks: tuple[Check, ...] = CHECKS) -> list[Failure]:
    return [failure for check in checks_for(level, checks) if (failure := check.run(meta, spec)) is not None]


@attrs.frozen
class SignificantUpdate:
    """isSignificantPodUpdate: only images, container counts and seccomp annotations count."""

    def __call__(self, pod: dict[str, Any], old: dict[str, Any]) -> bool:
        spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
        notes, old_notes = annotations_of(pod), annotations_of(old)
        key = "seccomp.security.alpha.kubernetes.io/pod"
        if notes.get(key) != old_notes.get(key):
            return True
        for field in ("containers", "initContainers"):
            new_list, old_list = spec.get(field) or [], old_spec.get(field) or []
            if len(new_list) != len(old_list):
                return True
            if any(self.container_changed(n, o, notes, old_notes) for n, o in zip(new_list, old_list)):
                return True
        old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
        return any(c.get("name") not in old_ephemeral
                   or self.container_changed(c, old_ephemeral[c.get("name")], notes, old_notes)
                   for c in spec.get("ephemeralContainers") or [])

    def container_changed(self, new: dict[str, Any], old: dict[str, Any], notes: dict[str, str],
                          old_notes: dict[str, str]) -> bool:
        key = "container.seccomp.security.alpha.kubernetes.io/" + str(new.get("name", ""))
        return new.get("image") != old.get("image") or notes.get(key) != old_notes.get(key)


class PodSecurity:
    name = "PodSecurity"
    checks = CHECKS
    significant_update = SignificantUpdate()

    def handles(self, attributes: AdmissionAttributes) -> bool:
        return (is_kind(attributes, "", "pods") and attributes.subresource in ("", "ephemeralcontainers")
                and attributes.operation in ("CREATE", "UPDATE"))

    def validate(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        pod = attributes.object
        if pod is None or not self.needs_evaluation(attributes):
            return
        level = self.level(lookup.get("namespaces", None, attributes.namespace))
        failures = evaluate(level, pod.get("metadata") or {}, pod.get("spec") or {}, self.checks)
        if failures:
            raise forbidden(attributes, f'violates PodSecurity "{level}:latest": ' + ", ".join(
                f"{reason} ({detail})" if detail else reason for reason, detail in failures))

    def needs_evaluation(self, attributes: AdmissionAttributes) -> bool:
        if attributes.operation == "CREATE" or attributes.old_object is None:
            return True
        return self.significant_update(attributes.object or {}, attributes.old_object)

    def level(self, namespace: dict[str, Any] | None) -> str:
        value = labels_of(namespace).get(ENFORCE_LABEL, "privileged")
        return value if value in LEVELS else "restricted"
