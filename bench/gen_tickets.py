"""Fill a Gongdan database with realistic tickets, fast, for load tests.

    python bench/gen_tickets.py --database-url sqlite:///bench/out/gongdan.db --count 1000000
    python bench/gen_tickets.py --database-url postgresql://postgres@127.0.0.1:5432/gongdan_bench --count 1000000

The schema is created (or upgraded) through the product's own migrations first. Then:

- ~1,000 users (``--users``) with roles, teams and org units of the shipped definitions: store
  staff and managers per store, region managers, shop-floor workers, technicians, agents,
  employees and approvers per department, customers. Usernames are stable
  (``staff.store_sh01.001``, ``mgr.store_sh01.01``, ``worker.workshop_a.001`` …) so load tests
  can pick people; the first half of each store's staff hold only ``store_staff``.
- ``--count`` tickets over the seven shipped types, created over the last ``--days`` (365) in
  id order, in states of every category (old tickets are mostly closed, recent ones mostly open
  or in progress), with field data valid for the type and state (a sample is checked with
  ``CompiledType.validate``), Chinese and English titles, requester and org unit as the API
  would set them, team and assignee as the flow's routing would (team members, store managers).
  ``number`` is ``GD-%06d`` of the id, ``search_text`` is ``search_text_for(number, title,
  fields)``, ``definition_version`` is the running catalog's version.
- Events: every ticket gets its ``created`` event, an ``assigned`` event when routing picked a
  team or person, and one ``transition`` event into its current state when that is not the
  initial state. (The real history of a ticket that went through several steps has more rows;
  intermediate steps, approvals and comments are not generated.)

Speed: rows are generated in batches (``--batch``) and written with COPY on PostgreSQL
(asyncpg ``copy_records_to_table``) and ``executemany`` in large transactions on SQLite.
The secondary indexes of ``tickets`` and ``ticket_events`` are dropped before the load and
created again afterwards with the same SQL (read back from the catalog tables), which is much
faster than maintaining them row by row. On SQLite the FTS5 insert trigger is dropped as well
and the search index is built in one pass (``INSERT INTO ticket_search(ticket_search)
VALUES('rebuild')``) before the trigger is created again; on PostgreSQL the ``pg_trgm`` GIN
index is one of the indexes rebuilt. ``--keep-indexes`` loads with every index and trigger live
instead (slower; for comparison). Finally ``ANALYZE`` runs on both engines, as after any bulk
load. If the script is interrupted during the load, the dropped indexes are missing: start again
on a fresh database (``--fresh``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import DEFINITIONS, fresh_database, is_postgres_url, sqlite_path  # noqa: E402

from engine.runtime import storage  # noqa: E402
from engine.runtime.storage.directory import RECOUNT_OPEN  # noqa: E402
from engine.runtime.storage.search import INDEX_NEW_TICKETS, search_text_for  # noqa: E402
from engine.runtime.storage.tickets import format_number  # noqa: E402
from engine.schema import Catalog  # noqa: E402
from engine.schema.kinds.flow import CLOSING  # noqa: E402
from engine.web.app import load_catalog  # noqa: E402

TICKET_COLUMNS = (
    "id", "number", "type", "title", "state", "state_category", "priority", "requester_id", "assignee_id",
    "team", "org_unit", "created_at", "updated_at", "resolved_at", "first_response_at", "response_due_at",
    "resolution_due_at", "definition_version", "row_version", "fields", "search_text",
)
EVENT_COLUMNS = ("ticket_id", "at", "actor_id", "kind", "from_state", "to_state", "data")

STORES = ("store_sh01", "store_hz01", "store_gz01", "store_sz01")
WORKSHOPS = ("workshop_a", "workshop_b")
DEPTS = ("dept_service", "dept_operations", "dept_it", "dept_finance", "dept_hr", "dept_logistics")

# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵欧解强柴华车冉房边"  # noqa: E501
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰",  # noqa: E501
         "霞", "平", "刚", "桂英", "婷", "浩", "宇", "欣怡", "子涵", "梓萱", "晨", "阳", "佳", "雪", "鑫", "帆", "瑞",
         "嘉怡", "俊杰", "思远", "雨桐", "建华", "国强", "海燕", "晓东", "志明", "春梅", "文静", "丹", "亮", "颖"]


@dataclass
class Person:
    username: str
    display_name: str
    roles: tuple[str, ...]
    teams: tuple[str, ...] = ()
    org_unit: str | None = None
    id: int = 0


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def build_people(rng: random.Random, scale: float) -> list[Person]:
    """About 900 × ``scale`` people covering every role of the shipped definitions."""

    def n(base: int) -> int:
        return max(1, round(base * scale))

    people: list[Person] = []

    def add(prefix: str, count: int, roles: tuple[str, ...], teams: tuple[str, ...] = (),
            unit: str | None = None, width: int = 3) -> None:
        for i in range(1, count + 1):
            people.append(Person(f"{prefix}.{i:0{width}d}", _name(rng), roles, teams, unit))

    add("admin", 2, ("admin",), unit="hq", width=2)
    for store in STORES:
        add(f"mgr.{store}", 2, ("store_manager",), unit=store, width=2)
        staff = n(40)
        only = staff // 2 or 1
        add(f"staff.{store}", only, ("store_staff",), unit=store)
        for i in range(only + 1, staff + 1):
            people.append(Person(f"staff.{store}.{i:03d}", _name(rng), ("store_staff", "employee"), (), store))
    for region in ("east", "south"):
        add(f"region.{region}", 2, ("region_manager",), unit=region, width=2)
    for shop in WORKSHOPS:
        add(f"worker.{shop}", n(120), ("worker",), unit=shop)
    add("tech.mechanical", n(20), ("technician",), ("mechanical",), "factory")
    add("tech.electrical", n(12), ("technician",), ("electrical",), "factory")
    add("mlead", 3, ("maintenance_lead",), unit="factory", width=2)
    add("agent", n(30), ("customer_service",), ("after_sales",), "dept_service")
    add("aslead", 2, ("after_sales_lead",), ("after_sales",), "dept_service", width=2)
    add("customer", n(250), ("customer",), width=4)
    for dept, count in zip(DEPTS, (20, 40, 15, 15, 10, 20), strict=True):
        add(f"emp.{dept}", n(count), ("employee",), unit=dept)
        add(f"mgr.{dept}", 1, ("dept_manager", "employee"), unit=dept, width=2)
    add("emp.hq", n(10), ("employee",), unit="hq")
    add("it", n(12), ("it_agent", "employee"), ("it_support",), "dept_it")
    add("finance", n(6), ("finance_approver", "employee"), ("finance",), "dept_finance", width=2)
    add("hr", 3, ("hr_approver", "employee"), unit="dept_hr", width=2)
    add("logistics", n(10), ("logistics_clerk", "employee"), ("logistics",), "dept_logistics")
    add("hqops", n(6), ("hq_ops",), unit="hq", width=2)
    return people


# ---------------------------------------------------------------------------------------------
# Field data and titles per type
# ---------------------------------------------------------------------------------------------

PRODUCTS_ZH = ["电热水壶", "空气炸锅", "蓝牙耳机", "保温杯", "电饭煲", "扫地机器人", "加湿器", "吹风机", "榨汁机", "台灯",  # noqa: E501
               "羽绒服", "运动鞋", "行李箱", "床上四件套", "洗发水", "奶粉", "坚果礼盒", "咖啡机", "儿童书包", "电动牙刷"]  # noqa: E501
PRODUCTS_EN = ["kettle", "air fryer", "Bluetooth headset", "thermos", "rice cooker", "robot vacuum", "humidifier",
               "hair dryer", "blender", "desk lamp", "down jacket", "running shoes", "suitcase", "bedding set"]
PLACES_ZH = ["收银台", "生鲜区", "试衣间", "入口", "停车场", "卫生间", "服务台", "仓储区", "电梯口", "促销堆头"]
PLACES_EN = ["checkout", "fresh food aisle", "fitting room", "entrance", "car park", "service desk"]
SENTENCES_ZH = [
    "顾客表示已经等待了很长时间，情绪比较激动。", "现场已向顾客道歉并记录联系方式。", "问题在上周也出现过一次。",
    "顾客要求尽快给出处理结果。", "已拍照留存，小票复印件在店内。", "涉及金额不大，但顾客坚持投诉。",
    "当班店员已说明情况。", "顾客称会在社交媒体上反映此事。", "希望总部能统一处理此类问题。",
    "设备运行时有异常响声，随后停机。", "操作工已按下急停按钮，未造成人员受伤。", "备用设备暂时可以顶替生产。",
    "故障代码 E-17，重启后仍然出现。", "液压油有渗漏，地面已做隔离。", "电控柜内有焦糊味，已断电。",
]
SENTENCES_EN = [
    "The customer waited for more than twenty minutes.", "We apologised on the spot and noted the phone number.",
    "The same thing happened last week.", "The customer asks for an answer within two days.",
    "Photos and a copy of the receipt are kept in the store.", "The machine made a grinding noise and stopped.",
    "The operator pressed the emergency stop; nobody was hurt.", "Error code E-17 comes back after a restart.",
]

ITEMS = [("购物袋（大号）", "PK"), ("价签纸", "LB"), ("收银小票纸", "PR"), ("促销海报", "DP"), ("货架隔板", "SH"),
         ("保鲜膜", "PK"), ("一次性手套", "CS"), ("清洁剂", "CS"), ("Shopping bags (medium)", "PK"),
         ("Price tags", "LB"), ("Receipt paper rolls", "PR"), ("Window display kit", "DP")]

TITLES: dict[str, tuple[list[str], list[str]]] = {
    "store_complaint": (
        ["顾客投诉{place}店员服务态度差", "收银时被重复扣款", "{product}质量问题，顾客要求退换", "促销价格与价签不符",
         "{place}地面湿滑，顾客险些摔倒", "排队结账时间过长", "会员积分未到账", "{product}临近过期仍在销售",
         "顾客投诉{place}环境脏乱", "退货被拒，顾客不满"],
        ["Charged twice at the {place}", "Rude staff at the {place}", "Promotion price not applied to the {product}",
         "Customer complains about queue at the {place}", "Expired goods on the shelf"],
    ),
    "material_request": (
        ["申请{item}{qty}{unit}", "周末促销需要{item}", "{item}库存不足，申请补货", "新店陈列需要{item}"],
        ["Need {item} for the weekend promotion", "Restock {item}", "{item} for the new display"],
    ),
    "after_sales": (
        ["收到的{product}有破损", "{product}无法开机", "申请{product}退货", "{product}少发配件", "订单{product}迟迟未发货",  # noqa: E501
         "{product}与描述不符，要求换货", "{product}使用一周后故障"],
        ["The {product} arrived damaged", "The {product} does not turn on", "Return the {product}",
         "Missing parts for the {product}", "Wrong colour of {product} delivered"],
    ),
    "equipment_repair": (
        ["{n}号注塑机运行中停机", "{n}号冲床异响", "传送带{n}跑偏", "电控柜{n}跳闸", "{n}号注塑机模具温度异常",
         "车间照明电路故障", "{n}号冲床液压油渗漏"],
        ["Press {n} stops mid-cycle", "Moulding machine {n} overheats", "Conveyor {n} belt slipping",
         "Control cabinet {n} trips", "Hydraulic leak on press {n}"],
    ),
    "it_helpdesk": (
        ["无法连接{floor}楼打印机", "电脑开机蓝屏", "VPN 无法登录", "邮箱密码重置", "申请 ERP 系统权限", "会议室投影仪无信号",  # noqa: E501
         "Wi-Fi 频繁掉线", "软件安装申请", "显示器闪烁"],
        ["Cannot print on floor {floor}", "Laptop blue screen at start", "VPN login fails", "Reset my e-mail password",
         "Access to the ERP reports", "Wi-Fi keeps dropping", "Install Visio"],
    ),
    "expense_claim": (
        ["{city}门店巡店差旅费", "{month}月业务招待费", "培训课程报销", "办公用品采购", "{city}出差餐费"],
        ["Trip to the {city} stores", "Client dinner in {month}", "Training course fee", "Office supplies"],
    ),
    "leave_request": (
        ["年假，家庭出游", "病假", "事假，处理家事", "婚假", "陪产假", "年假休息"],
        ["Annual leave", "Sick leave", "Personal leave", "Family trip"],
    ),
}
CITIES = ["上海", "杭州", "广州", "深圳", "苏州", "南京", "Shanghai", "Guangzhou"]
FLOORS = ["2", "3", "5", "6"]
UNITS_ZH = {"piece": "个", "box": "盒", "carton": "箱", "roll": "卷"}


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10)} {rng.randrange(10000):04d} {rng.randrange(10000):04d}"


def _money(rng: random.Random, lo: float, hi: float) -> float:
    return round(rng.uniform(lo, hi), 2)


def _text(rng: random.Random, zh: bool, k: int) -> str:
    pool = SENTENCES_ZH if zh else SENTENCES_EN
    return ("" if zh else " ").join(rng.sample(pool, k))


def _attachment_ids(rng: random.Random, count: int) -> list[str]:
    return [hashlib.sha256(rng.randbytes(8)).hexdigest() for _ in range(count)]


def make_title(rng: random.Random, type_name: str, zh: bool, fields: dict[str, Any]) -> str:
    templates = TITLES[type_name][0 if zh else 1]
    return rng.choice(templates).format(
        place=rng.choice(PLACES_ZH if zh else PLACES_EN), product=rng.choice(PRODUCTS_ZH if zh else PRODUCTS_EN),
        item=fields.get("item", "物料"), qty=fields.get("quantity", 1),
        unit=UNITS_ZH.get(str(fields.get("unit")), "个") if zh else fields.get("unit", ""),
        n=rng.randrange(1, 40), floor=rng.choice(FLOORS), city=rng.choice(CITIES), month=rng.randrange(1, 13),
    )


def create_fields(rng: random.Random, type_name: str, zh: bool, when: datetime, unit: str | None,
                  handover: list[str]) -> dict[str, Any]:
    """Field data as the create form would submit it (defaults filled)."""
    day = when.date()
    if type_name == "store_complaint":
        f: dict[str, Any] = {
            "store": unit if unit in STORES else rng.choice(STORES),
            "complaint_category": rng.choice(["service", "product_quality", "price", "checkout", "environment",
                                              "other"]),
            "description": _text(rng, zh, 2),
        }
        if rng.random() < 0.7:
            f["occurred_at"] = (when - timedelta(minutes=rng.randrange(10, 600))).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        if rng.random() < 0.6:
            f["customer_name"] = _name(rng)
            f["customer_phone"] = _phone(rng)
        return f
    if type_name == "material_request":
        item, prefix = rng.choice(ITEMS)
        f = {"store": unit if unit in STORES else rng.choice(STORES), "item": item,
             "quantity": rng.choice([5, 10, 20, 50, 100, 200, 500]), "unit": rng.choice(["piece", "box", "carton",
                                                                                        "roll"]),
             "needed_by": (day + timedelta(days=rng.randrange(3, 30))).isoformat()}
        if rng.random() < 0.7:
            f["item_code"] = f"{prefix}-{rng.randrange(100000):05d}"
        if rng.random() < 0.5:
            f["reason"] = "周末促销活动需要" if zh else "Weekend promotion"
        return f
    if type_name == "after_sales":
        kind = rng.choice(["complaint", "return", "exchange", "refund"])
        f = {"order_no": "".join(str(rng.randrange(10)) for _ in range(rng.randrange(12, 19))),
             "request_kind": kind, "customer_name": _name(rng), "customer_phone": _phone(rng),
             "description": _text(rng, zh, 2), "channel": rng.choice(["web", "app", "hotline", "api"])}
        if kind in ("refund", "return"):
            f["refund_amount"] = _money(rng, 9.9, 2999)
        if rng.random() < 0.3:
            f["photos"] = _attachment_ids(rng, rng.randrange(1, 4))
        return f
    if type_name == "equipment_repair":
        device = rng.choice(["moulding", "press", "conveyor", "electrical", "control_cabinet"])
        prefix = {"moulding": "MO", "press": "PR", "conveyor": "CV", "electrical": "EL",
                  "control_cabinet": "CC"}[device]
        f = {"device_no": f"{prefix}-{rng.randrange(10000):04d}", "device_type": device,
             "area": unit if unit in WORKSHOPS else rng.choice(WORKSHOPS), "stopped": rng.random() < 0.3}
        if rng.random() < 0.5:
            f["device_model"] = rng.choice(["HT-SA900", "JSW-J450", "AIDA-NC1", "Siemens S7-1200", "Fanuc α-S"])
        if rng.random() < 0.8:
            f["fault_description"] = _text(rng, zh, 2)
        return f
    if type_name == "it_helpdesk":
        cat = rng.choice(["hardware", "software", "network", "account", "other"])
        f = {"category": cat, "location": (f"总部{rng.choice(FLOORS)}楼 {rng.randrange(1, 40)}号工位" if zh
                                           else f"HQ {rng.choice(FLOORS)}F desk {rng.randrange(1, 40)}"),
             "urgency": rng.choice(["low", "medium", "medium", "high"]),
             "affected_users": rng.choice(["me", "me", "me", "team", "site"])}
        if cat in ("hardware", "software") and rng.random() < 0.6:
            f["asset_tag"] = f"IT-{rng.randrange(1000000):06d}"
        if rng.random() < 0.5:
            f["contact_phone"] = _phone(rng)
        if rng.random() < 0.6:
            f["details"] = "重启后问题依旧，已尝试重新插拔网线。" if zh else "Restarted twice, still the same error."
        return f
    if type_name == "expense_claim":
        cat = rng.choice(["travel", "meals", "client_entertainment", "office_supplies", "training", "other"])
        f = {"expense_category": cat, "amount": _money(rng, 20, 12000),
             "expense_date": (day - timedelta(days=rng.randrange(1, 30))).isoformat(),
             "reason": _text(rng, zh, 1), "receipts": _attachment_ids(rng, rng.randrange(1, 5)),
             "bank_account": "".join(str(rng.randrange(10)) for _ in range(rng.randrange(16, 20)))}
        if cat == "client_entertainment":
            f["guests"] = f"{rng.choice(['华联', '永辉', '苏宁', 'Acme'])}公司 {_name(rng)}、{_name(rng)}"
        return f
    if type_name == "leave_request":
        leave = rng.choice(["annual", "annual", "sick", "personal", "marriage", "maternity", "bereavement"])
        days = 1.0 if leave == "sick" else rng.choice([0.5, 1.0, 2.0, 3.0, 5.0])
        start = day + timedelta(days=rng.randrange(1, 20))
        f = {"leave_type": leave, "start_date": start.isoformat(),
             "end_date": (start + timedelta(days=max(0, int(days) - 1))).isoformat(), "days": days}
        if rng.random() < 0.5:
            f["reason"] = "家中有事" if zh else "Family matters"
        if handover and rng.random() < 0.5:
            f["handover_to"] = rng.choice(handover)
        return f
    raise KeyError(type_name)


def state_fields(rng: random.Random, type_name: str, zh: bool, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields filled in by later steps; kept only where the type shows them in the ticket's state."""
    if type_name == "after_sales":
        out: dict[str, Any] = {"resolution": "已为顾客办理退款" if zh else "Refund issued to the customer",
                               "satisfaction": rng.choice("54321")}
        if "refund_amount" in fields:
            out["refunded_amount"] = fields["refund_amount"]
        return out
    if type_name == "equipment_repair":
        return {"parts_used": rng.choice(["液压密封圈×2", "保险丝 10A", "传送带皮带", "hydraulic seal ×2"]),
                "repair_cost": _money(rng, 0, 3000), "evidence_photos": _attachment_ids(rng, 1)}
    if type_name == "it_helpdesk":
        return {"solution": "重装驱动后恢复正常" if zh else "Reinstalled the driver"}
    if type_name == "expense_claim":
        return {"payment_ref": f"PAY{rng.randrange(10**10):010d}"}
    if type_name == "material_request":
        return {"tracking_no": f"SF{rng.randrange(10**12):012d}", "shipped_quantity": fields["quantity"]}
    if type_name == "store_complaint":
        return {"handling_result": "已向顾客道歉并退还差价" if zh else "Apologised and refunded the difference",
                "compensation": _money(rng, 0, 200), "region_opinion": "同意处理意见" if zh else "Agreed"}
    return {}


# Who raises each type (roles), and how often the type occurs.
CREATORS: dict[str, tuple[str, ...]] = {
    "store_complaint": ("store_staff", "store_manager"),
    "material_request": ("store_staff", "store_manager"),
    "after_sales": ("customer", "customer", "customer", "customer_service"),
    "equipment_repair": ("worker",),
    "it_helpdesk": ("employee",),
    "expense_claim": ("employee",),
    "leave_request": ("employee",),
}
WEIGHTS = {"store_complaint": 25, "material_request": 10, "after_sales": 20, "equipment_repair": 15,
           "it_helpdesk": 15, "expense_claim": 8, "leave_request": 7}

# Category mix by the ticket's age in days: old tickets are mostly done.
AGE_MIX = (
    (1, {"open": 50, "active": 30, "waiting": 10, "resolved": 5, "closed": 0, "cancelled": 5}),
    (7, {"open": 15, "active": 25, "waiting": 15, "resolved": 25, "closed": 15, "cancelled": 5}),
    (30, {"open": 3, "active": 7, "waiting": 5, "resolved": 20, "closed": 58, "cancelled": 7}),
    (10**6, {"open": 0.5, "active": 1, "waiting": 1.5, "resolved": 5, "closed": 85, "cancelled": 7}),
)


@dataclass
class TypePlan:
    name: str
    initial: str
    priority: str
    by_category: dict[str, list[str]]
    transition_into: dict[str, str | None]
    route: tuple[str | None, str | None, str, str] | None  # (rule id, team, strategy, pool kind)
    has_sla: bool


def type_plans(catalog: Catalog) -> dict[str, TypePlan]:
    plans: dict[str, TypePlan] = {}
    for name, ctype in catalog.types.items():
        flow = ctype.flow
        cats: dict[str, list[str]] = {}
        for sid, st in flow.states.items():
            cats.setdefault(st.category, []).append(sid)
        into: dict[str, str | None] = {}
        for tr in flow.transitions.values():
            into.setdefault(tr.to, tr.id)
        route = None
        if flow.routing:
            rule = flow.routing[0][0]
            a = rule.assign
            pool = "store_manager" if a.role == "store_manager" else ("team" if a.team else "none")
            route = (rule.id, a.team, a.strategy, pool)
        plans[name] = TypePlan(name, flow.initial, ctype.spec.default_priority, cats, into, route,
                               ctype.spec.sla is not None)
    return plans


def pick_weighted(rng: random.Random, weights: dict[str, float]) -> str:
    total = sum(weights.values())
    x = rng.random() * total
    for key, w in weights.items():
        x -= w
        if x < 0:
            return key
    return next(reversed(weights))


# ---------------------------------------------------------------------------------------------
# Ticket rows
# ---------------------------------------------------------------------------------------------

class Generator:
    """Ticket and event rows, batch by batch; batch ``k`` is the same whichever process makes it."""

    def __init__(self, catalog: Catalog, people: list[Person], seed: int, count: int, days: int,
                 first_id: int, end: datetime) -> None:
        self.catalog = catalog
        self.seed = seed
        self.rng = random.Random(seed)
        self.plans = type_plans(catalog)
        self.count = count
        self.first_id = first_id
        self.next_id = first_id
        self.end = end
        self.start = end - timedelta(days=days)
        self.gap = (end - self.start).total_seconds() / max(count, 1)
        self.now = self.start
        self.version = catalog.version
        by_role: dict[str, list[Person]] = {}
        for p in people:
            for r in p.roles:
                by_role.setdefault(r, []).append(p)
        self.creators = {t: [p for r in roles for p in by_role.get(r, [])] for t, roles in CREATORS.items()}
        self.team_pool: dict[str, list[Person]] = {}
        for p in people:
            for t in p.teams:
                self.team_pool.setdefault(t, []).append(p)
        self.store_managers = {u: [p for p in by_role.get("store_manager", []) if p.org_unit == u] for u in STORES}
        self.handover = [p.username for p in by_role.get("employee", [])]
        self.types = [t for t in WEIGHTS if t in catalog.types]
        self.weights = {t: float(WEIGHTS[t]) for t in self.types}
        self.validated = 0
        self.check_rate = 0.0

    def batch(self, k: int, size: int, sqlite: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
        """Rows of batch ``k`` (tickets ``k * size`` onwards) and how many were validated."""
        self.rng = random.Random(self.seed * 1_000_003 + k)
        low = k * size
        n = min(size, self.count - low)
        self.next_id = self.first_id + low
        self.now = self.start + timedelta(seconds=low * self.gap)
        self.validated = 0
        self.check_rate = 0.02 if k == 0 else 0.001  # ~1,000 of the first 50,000, then ~50 per batch
        tickets: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for _ in range(n):
            t, evs = self.ticket(sqlite)
            tickets.append(t)
            events.extend(evs)
        return tickets, events, self.validated

    def _state(self, plan: TypePlan, age_days: float) -> str:
        for limit, mix in AGE_MIX:
            if age_days < limit:
                weights = {c: w for c, w in mix.items() if c in plan.by_category and w > 0}
                break
        if not weights:
            return plan.initial
        category = pick_weighted(self.rng, weights)
        return self.rng.choice(plan.by_category[category])

    def _assignee(self, plan: TypePlan, unit: str | None, state: str,
                  category: str) -> tuple[str | None, Person | None]:
        if plan.route is None:
            return None, None
        _, team, strategy, pool_kind = plan.route
        if plan.name == "equipment_repair":
            team = None  # decided per ticket by device type, see ticket()
        if pool_kind == "store_manager":
            managers = self.store_managers.get(unit or "", [])
            return None, (self.rng.choice(managers) if managers else None)
        pool = self.team_pool.get(team or "", [])
        needs_person = strategy != "fixed" or category not in ("open",)
        return team, (self.rng.choice(pool) if pool and needs_person else None)

    def ticket(self, sqlite: bool) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        self.now += timedelta(seconds=rng.expovariate(1.0) * self.gap)
        created = min(self.now, self.end).replace(microsecond=rng.randrange(1, 1_000_000))
        age = (self.end - created).total_seconds() / 86400
        type_name = pick_weighted(rng, self.weights)
        plan = self.plans[type_name]
        ctype = self.catalog.types[type_name]
        requester = rng.choice(self.creators[type_name])
        unit = requester.org_unit
        zh = rng.random() < 0.75
        fields = create_fields(rng, type_name, zh, created, unit, self.handover)
        title = make_title(rng, type_name, zh, fields)
        priority = plan.priority if rng.random() < 0.8 else rng.choice(["low", "normal", "high", "urgent"])
        initial_fields = dict(fields)
        state = self._state(plan, age)
        category = ctype.flow.category(state)
        if state != plan.initial:
            values = {"type": type_name, "state": state, "priority": priority}
            for key, value in state_fields(rng, type_name, zh, fields).items():
                if ctype.visible(key, {**fields, key: value, **values}):
                    fields[key] = value
        team, assignee = self._assignee(plan, unit, state, category)
        rule_id = plan.route[0] if plan.route else None
        if type_name == "equipment_repair":
            dt = fields["device_type"]
            if dt in ("moulding", "conveyor", "press"):
                rule_id, team = "moulding_to_mechanical", "mechanical"
            else:
                rule_id, team = "circuits_to_electricians", "electrical"
            assignee = rng.choice(self.team_pool[team]) if self.team_pool.get(team) else None
        if rng.random() < self.check_rate:
            self._check(type_name, initial_fields, plan.initial, priority)
            self._check(type_name, fields, state, priority)
        tid = self.next_id
        self.next_id += 1
        number = format_number(tid)
        closing = category in CLOSING
        span = max(60.0, min(age * 86400, 14 * 86400) * rng.random()) if state != plan.initial else 0.0
        updated = min(created + timedelta(seconds=span), self.end) if span else created
        resolved = updated if closing else None
        first_response = (created + timedelta(seconds=min(span, rng.uniform(300, 4 * 3600)))
                          if state != plan.initial and assignee is not None else None)
        response_due = created + timedelta(hours=4) if plan.has_sla else None
        resolution_due = created + timedelta(days=3) if plan.has_sla else None
        fields_json = json.dumps(fields)
        row_version = 1 if state == plan.initial else rng.randrange(2, 6)
        ts = (lambda d: None if d is None else str(d)) if sqlite else (lambda d: d)
        row = (tid, number, type_name, title, state, category, priority, requester.id,
               assignee.id if assignee else None, team, unit, ts(created), ts(updated), ts(resolved),
               ts(first_response), ts(response_due), ts(resolution_due), self.version, row_version, fields_json,
               search_text_for(number, title, fields))
        evs = [self._event(tid, created, requester.id, "created", None, plan.initial, {
            "type": type_name, "title": title, "state": plan.initial, "priority": priority, "org_unit": unit,
            "fields": initial_fields}, ts)]
        if team is not None or (assignee is not None and plan.route is not None and plan.route[3] != "team"):
            data: dict[str, Any] = {}
            if team is not None:
                data["team"] = {"before": None, "after": team}
            if assignee is not None and (plan.route and plan.route[2] != "fixed"):
                data["assignee"] = {"before": None, "after": assignee.username}
            data["rule"] = rule_id
            data["strategy"] = plan.route[2] if plan.route else None
            evs.append(self._event(tid, created, None, "assigned", None, None, data, ts))
        if state != plan.initial:
            actor = assignee.id if assignee else requester.id
            evs.append(self._event(tid, updated, actor, "transition", plan.initial, state, {
                "transition": plan.transition_into.get(state), "from": plan.initial, "to": state, "comment": None,
            }, ts))
        return row, evs

    def _event(self, tid: int, at: datetime, actor: int | None, kind: str, frm: str | None, to: str | None,
               data: dict[str, Any], ts: Any) -> tuple[Any, ...]:
        return (tid, ts(at), actor, kind, frm, to, json.dumps(data))

    def _check(self, type_name: str, fields: dict[str, Any], state: str, priority: str) -> None:
        errors = self.catalog.types[type_name].validate(fields, state=state, priority=priority)
        if errors:
            raise SystemExit(f"generated {type_name} data is not valid in state {state}: {errors}\n{fields}")
        self.validated += 1


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

async def prepare_schema(url: str, catalog: Catalog) -> None:
    """Create or upgrade the schema with the product's migrations and record the definition version."""
    engine = await storage.open_database(url, pool=False)
    try:
        await storage.record_definition_version(catalog)
    finally:
        await storage.close_database(engine)


def user_rows(people: list[Person], first_id: int, sqlite: bool, when: datetime) -> tuple[list[Any], ...]:
    users: list[tuple[Any, ...]] = []
    roles: list[tuple[int, str]] = []
    teams: list[tuple[int, str]] = []
    for i, p in enumerate(people):
        p.id = first_id + i
        email = f"{p.username}@example.com" if p.org_unit else None
        users.append((p.id, p.username, p.display_name, email, None, None, 1 if sqlite else True, p.org_unit,
                      str(when) if sqlite else when))
        roles.extend((p.id, r) for r in p.roles)
        teams.extend((p.id, t) for t in p.teams)
    return users, roles, teams


USER_COLUMNS = ("id", "username", "display_name", "email", "phone", "password_hash", "active", "org_unit",
                "created_at")


def load_sqlite(url: str, gen_args: dict[str, Any], people: list[Person], batch: int, keep_indexes: bool,
                log: Any) -> dict[str, float]:
    path = sqlite_path(url)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-524288")  # 512 MiB page cache while loading
    conn.execute("PRAGMA temp_store=MEMORY")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    existing = {r[0] for r in conn.execute("SELECT username FROM users")}
    new_people = [p for p in people if p.username not in existing]
    first_user = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM users").fetchone()[0]) + 1
    joined = gen_args["end"] - timedelta(days=gen_args["days"] + 1)
    users, roles, teams = user_rows(new_people, first_user, True, joined)
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES ({', '.join('?' * len(USER_COLUMNS))})",
                     users)
    conn.executemany("INSERT INTO user_roles (user_id, role) VALUES (?, ?)", roles)
    conn.executemany("INSERT INTO team_members (user_id, team) VALUES (?, ?)", teams)
    conn.execute("COMMIT")
    all_people = _load_people(conn.execute("SELECT id, username, org_unit FROM users").fetchall(), people)
    timings["users"] = time.perf_counter() - t0

    dropped: list[str] = []
    if not keep_indexes:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                            "AND tbl_name IN ('tickets', 'ticket_events') AND sql IS NOT NULL "
                            "AND name <> 'tickets_search_delete' AND name <> 'tickets_search_update'").fetchall()
        for name, sql in rows:
            kind = "TRIGGER" if sql.upper().startswith("CREATE TRIGGER") else "INDEX"
            conn.execute(f"DROP {kind} {name}")
            dropped.append(sql)
        log(f"dropped {len(dropped)} indexes/triggers for the load")
    first_ticket = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tickets").fetchone()[0] + 1
    t_sql = f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}) VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"
    e_sql = f"INSERT INTO ticket_events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    t1 = time.perf_counter()
    gen_time = 0.0
    done = validated = 0
    source = batch_source(gen_args, all_people, first_ticket, batch, True)
    while True:
        g0 = time.perf_counter()
        try:
            tickets, events, checked = next(source)
        except StopIteration:
            break
        gen_time += time.perf_counter() - g0
        validated += checked
        conn.execute("BEGIN")
        conn.executemany(t_sql, tickets)
        conn.executemany(e_sql, events)
        conn.execute("COMMIT")
        done += len(tickets)
        _progress(log, done, len(tickets), gen_args["count"], t1)
    timings["waiting for generated rows"] = gen_time
    timings["tickets+events insert (total incl. generation)"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    if dropped:
        conn.execute("BEGIN")
        for sql in dropped:
            if not sql.upper().startswith("CREATE TRIGGER"):
                conn.execute(sql)
        timings["index rebuild"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        conn.execute("INSERT INTO ticket_search (ticket_search) VALUES ('rebuild')")
        for sql in dropped:
            if sql.upper().startswith("CREATE TRIGGER"):
                conn.execute(sql)
        conn.execute("COMMIT")
        timings["FTS5 rebuild"] = time.perf_counter() - t3
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ticket_search_state'").fetchone():
        # The application indexes new tickets when its transactions commit (no insert trigger):
        # index what this load added (the rebuild above already did) and record how far it goes.
        conn.execute("BEGIN")
        if not dropped:
            conn.execute(INDEX_NEW_TICKETS[0])
        conn.execute("UPDATE ticket_search_state SET indexed_to = (SELECT coalesce(max(id), 0) FROM tickets)")
        conn.execute("COMMIT")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'assignee_open_counts'").fetchone():
        conn.execute("BEGIN")  # the open-count triggers were off during the load
        for sql in RECOUNT_OPEN:
            conn.execute(sql)
        conn.execute("COMMIT")
    t4 = time.perf_counter()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["analyze+checkpoint"] = time.perf_counter() - t4
    conn.close()
    timings["validated samples"] = validated
    return timings


_WORKER: dict[str, Any] = {}


def _init_worker(gen_args: dict[str, Any], people: list[Person], first_id: int, size: int, sqlite: bool) -> None:
    catalog = load_catalog(Path(gen_args["definitions"]))
    args = {k: v for k, v in gen_args.items() if k != "definitions"}
    _WORKER.update(gen=Generator(catalog, people, first_id=first_id, **args), size=size, sqlite=sqlite)


def _work(k: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    gen: Generator = _WORKER["gen"]
    return gen.batch(k, _WORKER["size"], _WORKER["sqlite"])


def batch_source(gen_args: dict[str, Any], people: list[Person], first_id: int, size: int,
                 sqlite: bool) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]]:
    """Batches in order, made by ``workers`` processes ahead of the writer (or here for 0)."""
    batches = range((gen_args["count"] + size - 1) // size)
    workers = gen_args["workers"]
    args = {k: v for k, v in gen_args.items() if k != "workers"}
    if workers <= 0:
        _init_worker(args, people, first_id, size, sqlite)
        for k in batches:
            yield _work(k)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(args, people, first_id, size, sqlite)) as pool:
        yield from pool.imap(_work, batches)


def _load_people(rows: list[tuple[Any, ...]], people: list[Person]) -> list[Person]:
    """The generated people with their ids in the database (earlier runs made some of them)."""
    by_name = {p.username: p for p in people}
    out = []
    for uid, username, _unit in rows:
        p = by_name.get(username)
        if p is None:
            continue
        p.id = uid
        out.append(p)
    return out


def _progress(log: Any, done: int, step: int, total: int, since: float) -> None:
    if done == total or done // 100_000 != (done - step) // 100_000:
        rate = done / max(time.perf_counter() - since, 1e-9)
        log(f"{done:>9,} / {total:,} tickets  ({rate:,.0f}/s)")


async def load_postgres(url: str, gen_args: dict[str, Any], people: list[Person], batch: int,
                        keep_indexes: bool, log: Any) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(url)
    timings: dict[str, float] = {}
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        t0 = time.perf_counter()
        existing = {r["username"] for r in await conn.fetch("SELECT username FROM users")}
        new_people = [p for p in people if p.username not in existing]
        first_user = await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM users") + 1
        users, roles, teams = user_rows(new_people, first_user, False,
                                        gen_args["end"] - timedelta(days=gen_args["days"] + 1))
        async with conn.transaction():
            await conn.copy_records_to_table("users", records=users, columns=list(USER_COLUMNS))
            await conn.executemany("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)", roles)
            await conn.executemany("INSERT INTO team_members (user_id, team) VALUES ($1, $2)", teams)
            await conn.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))")
        rows = await conn.fetch("SELECT id, username, org_unit FROM users")
        all_people = _load_people([(r["id"], r["username"], r["org_unit"]) for r in rows], people)
        timings["users"] = time.perf_counter() - t0

        dropped: list[str] = []
        if not keep_indexes:
            rows = await conn.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN ('tickets', 'ticket_events') "
                "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)")
            for r in rows:
                await conn.execute(f'DROP INDEX "{r["indexname"]}"')
                dropped.append(r["indexdef"])
            log(f"dropped {len(dropped)} indexes for the load")
            if await conn.fetchval("SELECT to_regclass('assignee_open_counts') IS NOT NULL"):
                await conn.execute("ALTER TABLE tickets DISABLE TRIGGER tickets_open_count")  # recounted after
        first_ticket = await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM tickets") + 1
        t1 = time.perf_counter()
        gen_time = 0.0
        done = validated = 0
        source = batch_source(gen_args, all_people, first_ticket, batch, False)
        while True:
            g0 = time.perf_counter()
            try:
                tickets, events, checked = next(source)
            except StopIteration:
                break
            gen_time += time.perf_counter() - g0
            validated += checked
            async with conn.transaction():
                await conn.copy_records_to_table("tickets", records=tickets, columns=list(TICKET_COLUMNS))
                await conn.copy_records_to_table("ticket_events", records=events, columns=list(EVENT_COLUMNS))
            done += len(tickets)
            _progress(log, done, len(tickets), gen_args["count"], t1)
        timings["waiting for generated rows"] = gen_time
        timings["tickets+events insert (total incl. generation)"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        for sql in dropped:
            i0 = time.perf_counter()
            await conn.execute(sql)
            log(f"  {time.perf_counter() - i0:6.1f} s  {sql[:110]}")
        timings["index rebuild (incl. pg_trgm GIN)"] = time.perf_counter() - t2
        for table in ("tickets",):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))")
        if await conn.fetchval("SELECT to_regclass('assignee_open_counts') IS NOT NULL"):
            async with conn.transaction():  # exact whatever the load did with the triggers
                for sql in RECOUNT_OPEN:
                    await conn.execute(sql)
                await conn.execute("ALTER TABLE tickets ENABLE TRIGGER tickets_open_count")
        t4 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE tickets")
        await conn.execute("VACUUM ANALYZE ticket_events")
        await conn.execute("ANALYZE users")
        await conn.execute("ANALYZE user_roles")
        await conn.execute("ANALYZE team_members")
        timings["vacuum analyze"] = time.perf_counter() - t4
        timings["validated samples"] = validated
    finally:
        await conn.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="sqlite:///path or postgresql://…")
    parser.add_argument("--count", type=int, default=1_000_000, help="tickets to add (default 1,000,000)")
    parser.add_argument("--users", type=int, default=1000, help="about how many users to create (default 1,000)")
    parser.add_argument("--days", type=int, default=365, help="spread created_at over this many days before now")
    parser.add_argument("--batch", type=int, default=50_000, help="tickets per transaction")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes generating rows ahead of the writer (default: one per core; 0: none)")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--definitions", default=str(DEFINITIONS))
    parser.add_argument("--fresh", action="store_true", help="delete and recreate the database first")
    parser.add_argument("--keep-indexes", action="store_true",
                        help="load with every index and the FTS trigger live (slower; for comparison)")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    started = time.perf_counter()
    catalog = load_catalog(Path(args.definitions))
    if args.fresh:
        fresh_database(args.database_url)
    t = time.perf_counter()
    asyncio.run(prepare_schema(args.database_url, catalog))
    log(f"schema ready ({time.perf_counter() - t:.1f} s)")
    rng = random.Random(args.seed)
    people = build_people(rng, args.users / 900)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    gen_args = {"definitions": args.definitions, "seed": args.seed + 1, "count": args.count, "days": args.days,
                "end": end, "workers": args.workers}
    postgres = is_postgres_url(args.database_url)
    loader = load_postgres if postgres else None
    if loader is not None:
        timings = asyncio.run(loader(args.database_url, gen_args, people, args.batch, args.keep_indexes, log))
    else:
        timings = load_sqlite(args.database_url, gen_args, people, args.batch, args.keep_indexes, log)
    total = time.perf_counter() - started
    log(f"done: {args.count:,} tickets on {'PostgreSQL' if postgres else 'SQLite'} in {total:.1f} s "
        f"({args.count / total:,.0f} tickets/s overall)")
    for key, value in timings.items():
        log(f"  {key:<48} {value:8.1f}" + ("" if key == "validated samples" else " s"))
    print(json.dumps({"count": args.count, "engine": "postgresql" if postgres else "sqlite",
                      "seconds": round(total, 1), **{k: round(v, 1) for k, v in timings.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
