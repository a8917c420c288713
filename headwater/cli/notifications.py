"""`headwater notifications`: the rules, the delivery log, test sends, and one delivery pass."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, err_console, fail, friendly_errors
from headwater.config import Project, load_project
from headwater.config.notifications import EVENT_KINDS
from headwater.notify import DeliveryResult, deliver_due, send_test
from headwater.notify.log import DELIVERY_STATUSES, list_deliveries, rule_views
from headwater.store import MetadataStore

app = typer.Typer(help="Notification rules, deliveries, test sends.")


@app.command()
@friendly_errors
def rules(project: ProjectOption = None) -> None:
    """List the notification rules with their channels (env var names, never secrets)."""
    loaded = load_project(project)
    views = rule_views(loaded)
    if not views:
        console.print("no notification rules in project.yml (notifications.rules)")
        return
    master = loaded.config.notifications.enabled
    table = Table("rule", "on", "events", "filter", "channel", "format", "url", "signed")
    for view in views:
        filters = [f"source:{name}" for name in view.sources]
        filters += [f"console:{name}" for name in view.consoles]
        table.add_row(
            view.name,
            "yes" if view.enabled and master else "no",
            ", ".join(view.events),
            ", ".join(filters) or "any",
            view.channel,
            view.format,
            view.url or f"${view.url_env}",
            f"${view.secret_env}" if view.secret_env else "no",
        )
    console.print(table)
    if not master:
        console.print("notifications.enabled is false: no rule sends anything")


@app.command()
@friendly_errors
def deliveries(
    rule: Annotated[str | None, typer.Option(help="Only this rule's deliveries.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, delivered or failed.", show_default=False)
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind.")] = None,
    limit: Annotated[int, typer.Option(help="Deliveries to show, newest first.")] = 20,
    project: ProjectOption = None,
) -> None:
    """Show the delivery log, newest first, with the last attempt of each."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise fail(f"--status must be one of {', '.join(DELIVERY_STATUSES)}, not '{status}'")
    if kind is not None and kind not in (*EVENT_KINDS, "test"):
        raise fail(f"--kind must be one of {', '.join((*EVENT_KINDS, 'test'))}, not '{kind}'")
    store = MetadataStore.open(load_project(project))
    try:
        with store.session() as session:
            rows, total = list_deliveries(
                session, limit=limit, rule=rule, status=status, kind=kind
            )
            table = Table("id", "created (UTC)", "rule", "kind", "status", "tries", "last")
            for row in rows:
                last = row.attempt_log[-1] if row.attempt_log else None
                outcome = ""
                if last is not None:
                    outcome = str(last.status_code or "") + (f" {last.error}" if last.error else "")
                table.add_row(
                    str(row.id),
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.rule or f"(test: {row.channel})",
                    row.event.kind,
                    row.status,
                    f"{row.attempts}/{row.max_attempts}",
                    outcome.strip()[:80],
                )
    finally:
        store.close()
    console.print(table)
    console.print(f"{len(rows)} of {total} deliveries")


def _print_result(result: DeliveryResult) -> None:
    target = f"rule {result.rule}" if result.rule else f"channel {result.channel}"
    latency = f" in {result.latency_ms:.0f} ms" if result.latency_ms is not None else ""
    if result.status == "delivered":
        console.print(f"[green]delivered[/] {target}: HTTP {result.status_code}{latency}")
    else:
        code = f" HTTP {result.status_code}" if result.status_code else ""
        err_console.print(
            f"[red]{result.status}[/] {target}:{code}{latency} {result.error or ''}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
@friendly_errors
def test(
    rule: Annotated[str | None, typer.Option(help="Send to this rule's channel.")] = None,
    channel: Annotated[str | None, typer.Option(help="Send to this channel.")] = None,
    project: ProjectOption = None,
) -> None:
    """Send a test notification now (once, no retries) and print what the receiver said;
    with neither option, one to each enabled rule. Exit 1 when one is not delivered."""
    loaded = load_project(project)
    config = loaded.config.notifications
    if rule is not None and channel is not None:
        raise fail("give --rule or --channel, not both")
    if rule is not None and rule not in config.rules:
        raise fail(f"no notification rule '{rule}'; known: {', '.join(config.rules) or 'none'}")
    if channel is not None and channel not in config.channels:
        known = ", ".join(config.channels) or "none"
        raise fail(f"no notification channel '{channel}'; known: {known}")
    targets: list[tuple[str | None, str | None]] = [(rule, channel)]
    if rule is None and channel is None:
        targets = [(name, None) for name, item in config.rules.items() if item.enabled]
        if not targets:
            raise fail("no enabled notification rule in project.yml; add one under "
                       "notifications.rules or name a channel with --channel")
    store = MetadataStore.open(loaded)
    try:
        results = [send_test(loaded, store, rule=r, channel=c) for r, c in targets]
    finally:
        store.close()
    for result in results:
        _print_result(result)
    if any(result.status != "delivered" for result in results):
        raise typer.Exit(1)


def _watch_runs(loaded: Project, store: MetadataStore) -> list[DeliveryResult]:
    """One pass of the run watcher: the deliveries of runs that finished since the last."""
    from headwater.errors import TransientError
    from headwater.notify.runs import wants_run_events, watch_runs
    from headwater.prefect_server import api_url, is_healthy

    if not wants_run_events(loaded):
        return []
    url = api_url(loaded)
    if not is_healthy(url):
        err_console.print(f"Prefect at {url} does not answer: finished runs not read this time")
        return []
    try:
        return watch_runs(loaded, store, url)
    except TransientError as exc:
        err_console.print(f"finished runs not read: {exc}")
        return []


@app.command()
@friendly_errors
def deliver(project: ProjectOption = None) -> None:
    """One pass of what the API does every few seconds: publish run_failed / run_succeeded
    for runs that finished since the last pass, then send every delivery whose next try is
    due (one try each; later tries come with the next pass or the API)."""
    loaded = load_project(project)
    if not loaded.config.notifications.enabled:
        console.print("notifications.enabled is false: nothing sent")
        return
    store = MetadataStore.open(loaded)
    try:
        from_runs = _watch_runs(loaded, store)
        results = deliver_due(loaded, store)
    finally:
        store.close()
    for result in [*from_runs, *results]:
        _print_result(result)
    console.print(
        f"{len(from_runs)} deliveries for finished runs, {len(results)} due deliveries tried"
    )
