"""A campaign checked against what its drivers and planner declare about themselves.

``Campaign`` (``agent/campaign.py``) checks what a file says on its own;
these checks ask the installed code: the planner's name and its typed
``Options``, each instrument's ``Options`` model, the safety limits its
driver enforces and the option values those limits cap, the quantities the
measuring instruments declare, the parameters the synthesizer accepts, and
the ``[[prior]]`` data (readable, columns mapped, every parameter covered).
Every problem names its field (``planner.options.aquisition``,
``instruments[1](xrd).options.target``), so ``labpilot validate`` prints
what to edit.

``labpilot validate`` (through ``preflight``) and ``labpilot run`` (once,
before anything is stored or connected) call :func:`check`, so ``run``
refuses nothing that ``validate`` accepted for a reason it could know.
Imports stay lazy: only the named planner's module is loaded (torch only for
the GP planners), and only the named drivers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labpilot import registry
from labpilot.agent.campaign import Campaign, CategoricalSpec, InstrumentSpec
from labpilot.errors import CampaignError, LabpilotError
from labpilot.protocols.strict import did_you_mean

Problems = list[tuple[str, str]]

#: How close a simplex total must be to 1 for a composition.
_TOTAL_TOLERANCE = 1e-9


def problems(c: Campaign, *, command_paths: bool = True) -> Problems:
    """Every problem found, as (field path, reason); empty when the campaign fits the installed code.

    ``command_paths=False`` leaves out the files a command instrument runs
    (a resume checks them on the campaign it resumes: ``command_path_problems``).
    """
    out: Problems = pool_problems(c)
    if not out:  # both build the campaign's space, which reads the pool
        out += planner_problems(c) + prior_problems(c)
    classes, unknown = configured_classes(c)
    for i, inst in enumerate(c.instruments):  # in the instruments' order, as the file lists them
        out += [unknown[i]] if i in unknown else instrument_problems(i, inst, classes[i], c)
    out += code_problems(c)
    if command_paths:
        out += command_path_problems(c, classes)
    out += objective_problems(c)
    for synth, inst in enumerate(c.instruments):  # interchangeable synthesizers (a shared stage): each one
        if inst.role == "synthesize" and synth in classes:
            out += synthesizer_problems(c, synth, classes[synth])
    return out


def check(c: Campaign, source: str, *, command_paths: bool = True) -> None:
    """Raise ``CampaignError`` listing every problem, if any."""
    found = problems(c, command_paths=command_paths)
    if found:
        raise CampaignError(source, found)


def _where(i: int, inst: InstrumentSpec) -> str:
    return f"instruments[{i}]({inst.name})"


# ------------------------------------------------------------------ planner


def planner_problems(c: Campaign) -> Problems:
    """The planner's name, its options against its ``Options`` model, then building it on this space."""
    from labpilot.errors import PlannerError, PluginError
    from labpilot.planners.base import make_planner, option_problems, planner_class

    spec = c.planner
    try:
        cls = planner_class(spec.name)
    except (PlannerError, PluginError) as exc:
        return [("planner.name", str(exc))]
    found = option_problems(cls, spec.options)
    if found:
        return [(f"planner.options.{where}", reason) for where, reason in found]
    try:
        make_planner(spec.name, c.space(), c.planner_objectives(), seed=c.seed, options=spec.options)
    except (PlannerError, TypeError, ValueError) as exc:
        named = [k for k in spec.options if k in str(exc)]
        where = f"planner.options.{named[0]}" if named else "planner"
        return [(where, f"planner {spec.name!r} cannot run this campaign: {exc}")]
    if c.prior and not getattr(cls, "accepts_priors", False):
        from labpilot.planners.base import prior_planners

        return [("planner.name", f"planner {spec.name!r} does not use prior data; drop the [[prior]] entries "
                                 f"or use {', '.join(prior_planners())}")]
    return []


# ------------------------------------------------------------------ candidate pool


def pool_problems(c: Campaign) -> Problems:
    """``[space] pool``: the keys it needs, a planner that can plan over rows, then the file itself.

    The file is read as the runner reads it (``planners.pool_table.read_pool``,
    cached), so a pool validate accepts is one ``run`` can use; a bad file,
    column or cell is named by its key (``space.pool``, ``space.id_column``,
    ``space.descriptors[0]``, ``parameters[1](x)``).
    """
    spec = c.space_
    if spec.pool is None:
        return []
    from labpilot.errors import PluginError, PlannerError, PoolError
    from labpilot.planners.base import planner_class

    if not spec.id_column:
        return [("space.id_column", "required with space.pool: the column of unique row ids")]
    out: Problems = []
    if spec.id_column in {p.name for p in c.parameters}:
        out.append(("space.id_column", f"{spec.id_column!r} is also a [[parameters]] name; the id is passed "
                                       "to the instruments on its own"))
    if not c.parameters and not spec.descriptors and not spec.featurizer:
        out.append(("space.descriptors", "a pool without [[parameters]] needs descriptors (or a featurizer): "
                                         "the model has nothing else to learn from"))
    try:
        cls = planner_class(c.planner.name)
        if not getattr(cls, "plans_pool_rows", False):
            out.append(("planner.name", f"planner {c.planner.name!r} cannot plan over a candidate pool "
                                        "(space.pool); use bo, mobo, random, uncertainty or range"))
    except (PlannerError, PluginError):
        pass  # reported by planner_problems
    if c.prior:
        out.append(("prior", "prior data cannot be used with a candidate pool (space.pool) yet"))
    if out:
        return out
    try:
        c.space()
    except PoolError as exc:
        return [(exc.field, exc.reason)]
    return []


# ------------------------------------------------------------------ priors


def prior_problems(c: Campaign) -> Problems:
    """Each ``[[prior]]`` entry readable, its columns present, every parameter and objective covered, names unique.

    The same loader the runner uses (``planners.prior.load_prior``), so an
    entry validate accepts is one ``run`` can read; each problem names
    ``prior[i](name).KEY``.
    """
    if not c.prior:
        return []
    from labpilot.errors import PriorError
    from labpilot.planners.prior import load_prior

    out: Problems = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(c.prior):
        try:
            data = load_prior(spec, c.space(), c.planner_objectives(), i)
        except PriorError as exc:
            out.append((exc.field, exc.reason))
            continue
        if data.name in seen:
            out.append((f"prior[{i}].name", f"two prior entries are called {data.name!r} (also prior[{seen[data.name]}]); "
                                            "give each its own name"))
        seen.setdefault(data.name, i)
    return out


# ------------------------------------------------------------------ instruments


def _settings(cls: type, inst: InstrumentSpec) -> Any:
    """The driver's validated options, or None when they are invalid (reported elsewhere)."""
    from labpilot.drivers.options import option_problems

    if option_problems(cls.Options, inst.options):
        return None
    return cls.Options.model_validate(dict(inst.options))


def instrument_problems(i: int, inst: InstrumentSpec, cls: type, c: Campaign) -> Problems:
    """Limit names the driver enforces, options against its ``Options`` model, option values against limits."""
    from labpilot.drivers.options import option_problems

    where = _where(i, inst)
    out: Problems = []
    known = tuple(cls.known_limits)
    for name in sorted(set(inst.limits) - set(known)):
        out.append((f"{where}.limits.{name}",
                    f"unknown safety limit for a {inst.kind}; its driver enforces {', '.join(known) or 'none'} "
                    "(a limit that is not enforced would be unsafe)"))
    bad = option_problems(cls.Options, inst.options)
    if bad:
        fields = list(cls.Options.model_fields)
        for option, reason in bad:
            if reason.startswith("unknown option"):
                reason = (f"unknown option of instrument kind {inst.kind!r}{did_you_mean(option, fields)}; "
                          f"known options: {', '.join(fields)}")
            out.append((f"{where}.options.{option}", reason))
        return out
    settings = cls.Options.model_validate(dict(inst.options))
    per_sample = {p.name for p in c.parameters} if inst.role == "synthesize" else set()
    for item in cls.limited_options(settings):
        maximum = inst.limits.get(item.limit)
        if item.option in per_sample or maximum is None or not item.value > maximum:
            continue
        given = "" if item.option in inst.options else " (its default)"
        out.append((f"{where}.options.{item.option}",
                    f"{item.what} {item.value:g}{given} exceeds the safety limit {item.limit} = {maximum:g}: "
                    f"the driver would refuse every experiment"))
    return out


def code_problems(c: Campaign) -> Problems:
    """A ``file.py:function`` an instrument names must exist (relative to the campaign's folder, made absolute).

    Only the file is checked: importing it would run its code, which ``validate``
    never does (the driver imports it on first use and names a bad one then).
    """
    from labpilot.agent.code_refs import code_file, instrument_refs

    out: Problems = []
    for i, option, ref in instrument_refs({"instruments": [inst.model_dump() for inst in c.instruments]}):
        code = code_file(ref)
        if code is not None and not code.is_file():
            where = "" if code.is_absolute() else f" (relative to the working directory {Path.cwd()})"
            out.append((f"{_where(i, c.instruments[i])}.options.{option}",
                        f"no such file {str(code)!r}{where}: a file.py:function is relative to the campaign "
                        "file's folder"))
    return out


def configured_classes(c: Campaign) -> tuple[dict[int, type], dict[int, tuple[str, str]]]:
    """Each instrument's driver class by index (a generic driver: from its options); the problem of each kind that names none."""
    classes: dict[int, type] = {}
    unknown: dict[int, tuple[str, str]] = {}
    for i, inst in enumerate(c.instruments):
        try:
            classes[i] = registry.configured_class(inst.kind, inst.options)
        except LabpilotError as exc:
            unknown[i] = (f"{_where(i, inst)}.kind", str(exc))
    return classes, unknown


def command_path_problems(c: Campaign, classes: dict[int, type] | None = None) -> Problems:
    """A ``command`` instrument's ``cwd``, program and ``{python}`` script must exist (as the driver checks at setup).

    Relative to its ``cwd``: the campaign file's folder (``agent.command_cwd``).
    Invalid options are named by ``instrument_problems`` and not checked here;
    ``classes``: each instrument's configured class, where already known.
    """
    from labpilot.drivers.generic.command import CommandDriver, path_problems

    if classes is None:
        classes = configured_classes(c)[0]  # a kind that names no class is named by problems()
    out: Problems = []
    for i, cls in classes.items():
        if not issubclass(cls, CommandDriver):
            continue
        settings = _settings(cls, c.instruments[i])
        if settings is None:
            continue
        for option, reason in path_problems(settings):
            out.append((f"{_where(i, c.instruments[i])}.options.{option}", reason))
    return out


# ------------------------------------------------------------------ objectives


def objective_problems(c: Campaign) -> Problems:
    """Each objective must be a scalar one of the measuring instruments declares (a generic kind: in its options)."""
    from labpilot.drivers.options import option_problems

    measured: dict[str, str] = {}
    for inst in c.measurers:
        try:
            cls = registry.configured_class(inst.kind, inst.options)  # a generic driver: from its options
            measured.update(cls.scalars)
        except LabpilotError:
            continue  # the kind itself is reported
        if getattr(cls, "role_from_options", False) and option_problems(cls.Options, inst.options):
            return []  # what it measures is unknown until its options (reported) are fixed
    listing = ", ".join(f"{name} ({unit})" for name, unit in sorted(measured.items())) or "nothing"
    return [
        (f"objectives[{j}].name",
         f"{o.name!r} is measured by none of the instruments (they measure {listing})")
        for j, o in enumerate(c.objectives) if o.name not in measured
    ]


# ------------------------------------------------------------------ synthesizer parameters


def synthesizer_problems(c: Campaign, i: int, cls: type) -> Problems:
    """The campaign's parameters against what the synthesizer accepts (names, bounds, compositions)."""
    inst = c.instruments[i]
    settings = _settings(cls, inst)
    if settings is None:
        return []
    accepts = cls.accepts(settings, dict(inst.limits))
    if accepts is None:
        return []
    who = f"the {inst.kind} {inst.name!r}"
    out: Problems = []
    for k, p in enumerate(c.parameters):
        where = f"parameters[{k}]({p.name})"
        acc = accepts.get(p.name)
        if acc is None:
            out.append((f"{where}.name", f"{who} does not accept a parameter {p.name!r}; "
                                         f"it accepts {', '.join(accepts.names())}"))
            continue
        if isinstance(p, CategoricalSpec):
            out.append((f"{where}.type", f"{who} takes {p.name} as a number ({acc.unit}), not a category"))
            continue
        bounds = f"{who} accepts {p.name} in {acc.bounds_text()}" + (f" {acc.unit}" if acc.unit not in ("", "1") else "")
        if acc.low is not None and (p.low < acc.low or (acc.low_open and p.low <= acc.low)):
            out.append((f"{where}.low", f"{p.low:g} is out of range: {bounds}"))
        if acc.high is not None and p.high > acc.high:
            out.append((f"{where}.high", f"{p.high:g} is out of range: {bounds}"))
    pool_id = c.space_.id_column if c.space_.pool else None
    if pool_id and accepts.get(pool_id) is None:  # the row id goes to the synthesizer with every proposal
        out.append(("space.id_column", f"{who} does not accept a parameter {pool_id!r}, and a pool's row id is "
                                       f"passed to the synthesizer; it accepts {', '.join(accepts.names())}"))
    given = {p.name for p in c.parameters}
    missing = [a.name for a in accepts.params if a.required and a.name not in given]
    if missing:
        out.append(("parameters", f"{who} needs parameter(s) {', '.join(missing)}; the campaign does not give them"))
    out += _composition_problems(c, who, [n for n in accepts.fractions if n in given])
    return out


def _composition_problems(c: Campaign, who: str, fractions: list[str]) -> Problems:
    """The fractions a synthesizer deposits must add up to 1: one simplex of total 1 over exactly them."""
    if not fractions:
        return []
    hint = f'add [[constraints]] type = "simplex", parameters = {fractions}, total = 1.0'
    if len(fractions) == 1:
        return [("parameters", f"{who} makes a composition: one fraction ({fractions[0]}) alone cannot vary; "
                               "give two or more")]
    for j, con in enumerate(c.constraints):
        if set(con.parameters) == set(fractions):
            if abs(con.total - 1.0) > _TOTAL_TOLERANCE:
                return [(f"constraints[{j}].total", f"{who} needs the fractions {fractions} to add up to 1, "
                                                    f"not {con.total:g}")]
            return []
    return [("constraints", f"{who} needs the fractions {fractions} to add up to 1, and no simplex says so: {hint}")]
