"""Demo data: one user per role of the shipped definitions and a spread of tickets through the real services.

Every demo user's password is ``DEMO_PASSWORD``. Running it again adds nothing that exists already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from engine.schema import Catalog

from .auth.accounts import actor_for_user, create_user
from .errors import GongdanError
from .model import Actor
from .service import TicketService
from .storage.tables import Ticket, User

__all__ = ["DEMO_PASSWORD", "DemoUser", "demo_users", "seed_demo"]

DEMO_PASSWORD = "gongdan-demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    roles: tuple[str, ...]
    teams: tuple[str, ...] = ()
    org_unit: str | None = None


# The people of the shipped scenarios; a role not listed here still gets a user named after it.
_PEOPLE = (
    DemoUser("admin", "系统管理员 Admin", ("admin",), (), "hq"),
    DemoUser("customer", "顾客 Zhou Min", ("customer",)),
    DemoUser("agent", "客服 Liu Yang", ("customer_service",), ("after_sales",), "dept_service"),
    DemoUser("agent2", "客服 He Jing", ("customer_service",), ("after_sales",), "dept_service"),
    DemoUser("aslead", "售后主管 Guo Lei", ("after_sales_lead",), ("after_sales",), "dept_service"),
    DemoUser("worker", "车间员工 Wang Qiang", ("worker",), (), "workshop_a"),
    DemoUser("tech", "机修 Li Ming", ("technician",), ("mechanical",), "factory"),
    DemoUser("tech2", "机修 Zhao Gang", ("technician",), ("mechanical",), "factory"),
    DemoUser("electrician", "电工 Chen Hui", ("technician",), ("electrical",), "factory"),
    DemoUser("mlead", "维修主管 Sun Wei", ("maintenance_lead",), (), "factory"),
    DemoUser("staff_sh", "店员 Xu Li (上海)", ("store_staff",), (), "store_sh01"),
    DemoUser("manager_sh", "店长 Ma Jun (上海)", ("store_manager",), (), "store_sh01"),
    DemoUser("staff_hz", "店员 Lin Na (杭州)", ("store_staff",), (), "store_hz01"),
    DemoUser("manager_hz", "店长 Hu Bo (杭州)", ("store_manager",), (), "store_hz01"),
    DemoUser("staff_gz", "店员 Liang Fang (广州)", ("store_staff",), (), "store_gz01"),
    DemoUser("manager_gz", "店长 Deng Tao (广州)", ("store_manager",), (), "store_gz01"),
    DemoUser("region_east", "华东区经理 Yang Fan", ("region_manager",), (), "east"),
    DemoUser("region_south", "华南区经理 Huang Rui", ("region_manager",), (), "south"),
    DemoUser("hq", "总部运营 Song Jia", ("hq_ops",), (), "hq"),
    DemoUser("logistics", "物流 Tang Kai", ("logistics_clerk",), ("logistics",), "dept_logistics"),
    DemoUser("it", "IT 运维 Feng Yu", ("it_agent",), ("it_support",), "dept_it"),
    DemoUser("employee", "员工 Wu Xia", ("employee",), (), "dept_operations"),
    DemoUser("manager", "部门经理 Qian Hao", ("dept_manager",), (), "dept_operations"),
    DemoUser("finance", "财务 Zheng Yan", ("finance_approver",), ("finance",), "dept_finance"),
    DemoUser("hr", "人事 Cao Ying", ("hr_approver",), (), "dept_hr"),
)


def demo_users(catalog: Catalog) -> list[DemoUser]:
    """The demo people that fit the running definitions: unknown roles, teams and units are dropped."""
    out: list[DemoUser] = []
    covered: set[str] = set()
    for p in _PEOPLE:
        roles = tuple(r for r in p.roles if r in catalog.roles)
        if not roles:
            continue
        teams = tuple(t for t in p.teams if t in catalog.teams)
        unit = p.org_unit if p.org_unit in catalog.org.units else None
        out.append(DemoUser(p.username, p.display_name, roles, teams, unit))
        covered.update(roles)
    root = next(iter(catalog.org.units), None)
    for role in catalog.roles:
        if role not in covered:
            out.append(DemoUser(role.replace("_", "."), role, (role,), (), root))
    return out


def _day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


# (requester, type, title, fields, transitions as (user, transition id, body))
_TICKETS: list[tuple[str, str, str, dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = [
    ("worker", "equipment_repair", "3号注塑机漏油 Moulding machine 3 leaks oil",
     {"device_no": "MO-0003", "device_type": "moulding", "area": "workshop_a", "stopped": True,
      "fault_description": "液压油从合模缸下方滴漏，已停机。"}, []),
    ("worker", "equipment_repair", "B车间电控柜跳闸 Control cabinet trips",
     {"device_no": "CC-0102", "device_type": "control_cabinet", "area": "workshop_b"},
     [("electrician", "accept", {}), ("electrician", "start", {})]),
    ("worker", "equipment_repair", "传送带异响 Conveyor noise",
     {"device_no": "CV-0020", "device_type": "conveyor", "area": "workshop_a"},
     [("tech", "accept", {})]),
    ("customer", "after_sales", "收到的耳机左声道无声 Left earbud silent",
     {"order_no": "202611110001234", "request_kind": "exchange", "customer_name": "周敏",
      "customer_phone": "13812345678", "description": "双十一购买的耳机，左耳完全没有声音。"}, []),
    ("customer", "after_sales", "申请退货退款 Return and refund",
     {"order_no": "202611110009876", "request_kind": "return", "customer_name": "周敏",
      "customer_phone": "13987654321", "refund_amount": 299.0,
      "description": "尺码不合适，商品未拆封，申请退货。"}, []),
    ("staff_sh", "store_complaint", "顾客投诉收银排队太久",
     {"store": "store_sh01", "complaint_category": "checkout",
      "description": "晚高峰只开一个收银台，顾客排队二十分钟。"}, []),
    ("staff_hz", "store_complaint", "顾客反映空调不制冷",
     {"store": "store_hz01", "complaint_category": "environment",
      "description": "门店二楼空调不制冷，顾客投诉太热。"}, []),
    ("staff_gz", "store_complaint", "商品标价与收银价格不一致",
     {"store": "store_gz01", "complaint_category": "price",
      "description": "货架标价39元，收银时按49元结算。"}, []),
    ("manager_sh", "material_request", "补充购物袋 Shopping bags",
     {"store": "store_sh01", "item": "环保购物袋（大）", "quantity": 20, "unit": "carton",
      "needed_by": _day(7)}, []),
    ("employee", "it_helpdesk", "笔记本无法连接VPN Laptop cannot reach VPN",
     {"category": "network", "location": "运营部 3F", "urgency": "high"}, []),
    ("employee", "leave_request", "年假申请 Annual leave",
     {"leave_type": "annual", "start_date": _day(14), "end_date": _day(18), "days": 5}, []),
]


async def _ensure_users(catalog: Catalog) -> dict[str, Actor]:
    people: dict[str, Actor] = {}
    existing = {r["username"] for r in await User.select(User.username).run()}
    for p in demo_users(catalog):
        if p.username not in existing:
            await create_user(p.username, DEMO_PASSWORD, roles=p.roles, teams=p.teams, org_unit=p.org_unit,
                              display_name=p.display_name, email=f"{p.username}@demo.gongdan.local")
        people[p.username] = await actor_for_user(p.username)
    return people


async def seed_demo(catalog: Catalog, service: TicketService) -> tuple[list[DemoUser], int]:
    """Create the demo users and, on an empty database, the demo tickets; returns (users, tickets made)."""
    people = await _ensure_users(catalog)
    if await Ticket.count().run():
        return demo_users(catalog), 0
    made = 0
    for requester, type_name, title, fields, steps in _TICKETS:
        if type_name not in catalog.types or requester not in people:
            continue
        try:
            ticket, _ = await service.create(people[requester], type_name, title, fields)
            made += 1
            for user, transition, body in steps:
                await service.transition(people[user], ticket.id, transition, body.get("fields"), body.get("comment"))
        except GongdanError as exc:  # definitions changed since the demo was written: skip, say why
            print(f"demo: skipped '{title}': {exc}")
    return demo_users(catalog), made
