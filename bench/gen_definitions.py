"""Generate a large, valid definition set for timing `gongdan check`.

    python bench/gen_definitions.py OUT_DIR [--types 500] [--flows 100] [--roles 50]

Each ticket type has 14 fields (selects, conditions, attachments, a layout); each flow has
8 states, 12 transitions, an approval and 4 routing rules; roles grant on slices of the types.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

HEADER = "# yaml-language-server: $schema=../../schema/gongdan.schema.json\napiVersion: gongdan/v1\n"


def org(n_regions: int = 10, stores: int = 10) -> str:
    lines = [HEADER + "kind: OrgUnits\nmetadata: {name: org}\nspec:\n  levels:\n"
             "    - {id: hq}\n    - {id: region, manager_role: role_0}\n    - {id: store, manager_role: role_1}\n"
             "  units:\n    - id: hq\n      level: hq\n      children:\n"]
    for r in range(n_regions):
        lines.append(f"        - id: region_{r}\n          level: region\n          label: {{en: Region {r}, zh: 大区{r}}}\n"
                     "          children:\n")
        for s in range(stores):
            lines.append(f"            - {{id: store_{r}_{s}, level: store, label: {{en: Store {r}-{s}, zh: 门店{r}-{s}}}}}\n")
    return "".join(lines)


def teams(n: int) -> str:
    body = "".join(f"    - {{id: team_{i}, label: {{en: Team {i}, zh: 小组{i}}}, org_unit: hq}}\n" for i in range(n))
    return HEADER + f"kind: Teams\nmetadata: {{name: teams}}\nspec:\n  teams:\n{body}"


def role(i: int, n_types: int) -> str:
    chunk = [f"type_{t}" for t in range(n_types) if t % 5 == i % 5]
    scope = ("own", "team", "org_unit", "org_subtree", "all")[i % 5]
    return HEADER + (
        f"kind: Role\nmetadata: {{name: role_{i}, version: 1}}\nspec:\n  label: {{en: Role {i}, zh: 角色{i}}}\n"
        f"  permissions:\n    - types: [{', '.join(chunk)}]\n      actions: [create, view, comment, assign, edit]\n"
        f"      scope: {scope}\n    - types: '*'\n      actions: [view]\n      scope: assigned\n"
    )


def flow(i: int, n_roles: int, n_teams: int) -> str:
    r = [f"role_{(i + k) % n_roles}" for k in range(3)]
    t = [f"team_{(i + k) % n_teams}" for k in range(4)]
    return HEADER + f"""kind: Flow
metadata: {{name: flow_{i}, version: 1}}
spec:
  label: {{en: Flow {i}, zh: 流程{i}}}
  initial: new
  states:
    - {{id: new, label: {{en: New, zh: 新建}}, category: open}}
    - {{id: triage, label: {{en: Triage, zh: 分诊}}, category: active}}
    - {{id: in_progress, label: {{en: In progress, zh: 处理中}}, category: active}}
    - {{id: waiting, label: {{en: Waiting, zh: 等待}}, category: waiting}}
    - {{id: approval, label: {{en: Approval, zh: 审批}}, category: waiting}}
    - {{id: resolved, label: {{en: Resolved, zh: 已解决}}, category: resolved}}
    - {{id: closed, label: {{en: Closed, zh: 已关闭}}, category: closed}}
    - {{id: cancelled, label: {{en: Cancelled, zh: 已取消}}, category: cancelled}}
  transitions:
    - {{id: triage, from: new, to: triage, who: {{roles: [{r[0]}]}}}}
    - {{id: start, from: [new, triage], to: in_progress, who: {{roles: [{r[0]}, {r[1]}], relations: [assignee]}}}}
    - {{id: wait, from: in_progress, to: waiting, who: {{relations: [assignee]}}, comment: required}}
    - {{id: resume, from: waiting, to: in_progress, who: {{relations: [assignee, requester]}}}}
    - {{id: ask_approval, from: in_progress, to: approval, who: {{relations: [assignee]}}}}
    - {{id: resolve, from: in_progress, to: resolved, who: {{relations: [assignee]}}, require: [field_3]}}
    - {{id: reopen, from: resolved, to: in_progress, who: {{relations: [requester]}}, comment: required}}
    - {{id: close, from: resolved, to: closed, who: {{roles: [{r[2]}], relations: [requester]}}}}
    - {{id: cancel, from: [new, triage], to: cancelled, who: {{relations: [requester]}}}}
    - {{id: escalate, from: [triage, in_progress], to: triage, who: {{roles: [{r[1]}]}}, set: {{priority: urgent}}}}
    - {{id: reassign, from: [in_progress], to: triage, who: {{roles: [{r[0]}]}}, set: {{unassign: true, reroute: true}}}}
    - {{id: drop, from: '*', to: cancelled, who: {{roles: [{r[0]}]}}, when: {{field_1: {{ne: c}}}}}}
  approvals:
    - id: approve
      state: approval
      levels:
        - {{id: manager, approvers: {{role: {r[1]}, org: nearest}}}}
        - {{id: finance, approvers: {{role: {r[2]}}}, when: {{field_4: {{gt: 5000}}}}}}
      on_approved: in_progress
      on_rejected: in_progress
  routing:
    - {{id: by_a, when: {{field_1: a}}, assign: {{team: {t[0]}, strategy: least_loaded}}}}
    - {{id: by_b, when: {{field_1: b, field_2: true}}, assign: {{team: {t[1]}, strategy: round_robin}}}}
    - {{id: by_c, when: {{any: [{{field_1: c}}, {{field_4: {{gt: 100}}}}]}}, assign: {{team: {t[2]}}}}}
    - {{id: default, assign: {{team: {t[3]}}}}}
"""


def ticket_type(i: int, n_flows: int) -> str:
    return HEADER + f"""kind: TicketType
metadata: {{name: type_{i}, version: 1}}
spec:
  label: {{en: Type {i}, zh: 类型{i}}}
  description: {{en: "Generated type {i}", zh: 生成的类型{i}}}
  flow: flow_{i % n_flows}
  default_priority: normal
  fields:
    - id: field_1
      type: select
      label: {{en: Category, zh: 类别}}
      required: true
      options:
        - {{value: a, label: {{en: A, zh: 甲}}}}
        - {{value: b, label: {{en: B, zh: 乙}}}}
        - {{value: c, label: {{en: C, zh: 丙}}}}
    - {{id: field_2, type: boolean, label: {{en: Urgent, zh: 紧急}}, default: false}}
    - id: field_3
      type: textarea
      label: {{en: Resolution, zh: 处理结果}}
      visible_when: {{state: [in_progress, resolved, closed]}}
    - {{id: field_4, type: money, label: {{en: Amount, zh: 金额}}, min: 0, currency: CNY}}
    - id: field_5
      type: text
      label: {{en: Reference, zh: 编号}}
      pattern: "^[A-Z]{{2}}-[0-9]{{4}}$"
      required_when: {{field_1: {{in: [a, b]}}}}
    - {{id: field_6, type: date, label: {{en: Due, zh: 截止日期}}}}
    - {{id: field_7, type: email, label: {{en: Contact e-mail, zh: 联系邮箱}}}}
    - {{id: field_8, type: phone, label: {{en: Phone, zh: 电话}}, sensitive: true}}
    - {{id: field_9, type: multiselect, label: {{en: Tags, zh: 标签}}, options: [x, y, z]}}
    - {{id: field_10, type: attachment, label: {{en: Photos, zh: 照片}}, accept: ["image/*"], max_files: 5}}
    - {{id: field_11, type: integer, label: {{en: Quantity, zh: 数量}}, min: 1, max: 1000}}
    - id: field_12
      type: text
      label: {{en: Refund account, zh: 退款账户}}
      visible_when: {{all: [{{field_1: c}}, {{field_4: {{gt: 0}}}}]}}
    - {{id: field_13, type: org_unit, label: {{en: Store, zh: 门店}}}}
    - {{id: field_14, type: user, label: {{en: Contact person, zh: 联系人}}}}
  layout:
    - id: main
      label: {{en: Request, zh: 申请}}
      fields: [field_1, field_2, field_4, field_5, field_6, field_7, field_8, field_9, field_11, field_12, field_13, field_14]
    - id: files
      fields: [field_10]
    - id: result
      fields: [field_3]
"""


def generate(out: Path, n_types: int, n_flows: int, n_roles: int, n_teams: int = 20) -> None:
    if out.exists():
        shutil.rmtree(out)
    for sub in ("forms", "flows", "roles", "org", "teams"):
        (out / sub).mkdir(parents=True)
    (out / "org" / "org.yaml").write_text(org(), encoding="utf-8")
    (out / "teams" / "teams.yaml").write_text(teams(n_teams), encoding="utf-8")
    for i in range(n_roles):
        (out / "roles" / f"role_{i}.yaml").write_text(role(i, n_types), encoding="utf-8")
    for i in range(n_flows):
        (out / "flows" / f"flow_{i}.yaml").write_text(flow(i, n_roles, n_teams), encoding="utf-8")
    for i in range(n_types):
        (out / "forms" / f"type_{i}.yaml").write_text(ticket_type(i, n_flows), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--types", type=int, default=500)
    ap.add_argument("--flows", type=int, default=100)
    ap.add_argument("--roles", type=int, default=50)
    args = ap.parse_args()
    generate(args.out, args.types, args.flows, args.roles)
    print(f"wrote {args.types} types, {args.flows} flows, {args.roles} roles to {args.out}")


if __name__ == "__main__":
    main()
