#!/usr/bin/env python3
"""Generates a SYNTHETIC decision history for each sample brand.

The approver agent learns from a workspace's past decisions. A new
workspace has none, so the sample brands ship with invented ones, made here
from each brand's stated preferences (brand-profile.json): its emoji policy,
hashtag limit, banned words, whether it allows discount language, the
urgency it refuses, and spend within the brief. Proposals are built from the
brand's own products, creators and sample phrases, in the shapes the agents
produce for the four Campaign Launch gates; some carry what the brand
dislikes (and one product per brand is "on hold"), and a simulated
approver rejects those (with written feedback) most of the time, as people
do, but not always; a very few clean ones are rejected for reasons no model
could know.

Deterministic: the same seed writes the same files.

    python3 samplesdata/generate-decision-history.py            # writes the files
    python3 samplesdata/generate-decision-history.py --check    # exits 1 if they differ

Output: samplesdata/workspaces/<id>/decision-history.json
"""

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

SEED = 20261127
PER_GATE = 150  # decisions per gate: 600 per brand
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
DAYS = 150
HERE = Path(__file__).resolve().parent
WORKFLOW = "campaign-launch"

EMOJI = ["\u2728", "\U0001F33F", "\U0001F525", "\u2615", "\U0001F60D", "\U0001F64C", "\U0001F30A", "\U0001F389"]
DISCOUNT = ["Take 20% off this week.", "Use code HELLO15 for a discount.", "Everything is on sale until Sunday.",
            "Save $10 on your first order.", "Our best deal of the season."]
URGENCY = ["Hurry, they won't last.", "Last chance to order before the weekend.", "Limited time only.",
           "Don't wait: stock is selling fast.", "Act now."]
CLEAN_CLOSERS = ["Details in the link.", "Made in small batches.", "Questions welcome in the comments.",
                 "Tap through to see the colours.", "Care notes are on the product page."]

FEEDBACK = {
    "emoji:none": ["No emoji, please: {brand} doesn't use them.", "Take the emoji out; it isn't our voice.",
                   "Emoji again: we never use them."],
    "emoji": ["Too many emoji for us; we keep them {policy}.", "Cut the emoji down, this is a lot.",
              "Fewer emoji, please: {n} is too many."],
    "discount": ["We don't do discounts: remove the \u201c{hit}\u201d line.",
                 "No sale language, please. Drop \u201c{hit}\u201d.",
                 "Discount talk cheapens the brand; cut \u201c{hit}\u201d."],
    "urgency": ["No urgency lines like \u201c{hit}\u201d; we never rush people.",
                "Drop the countdown tone (\u201c{hit}\u201d).", "Too pushy: \u201c{hit}\u201d has to go."],
    "hashtags": ["Too many hashtags: {n}. We keep it to {max}.", "Trim the hashtags to {max}, signature first.",
                 "{n} hashtags reads as spam; {max} at most."],
    "banned": ["\u201c{hit}\u201d is on our banned list.", "Never say \u201c{hit}\u201d about our products.",
               "Reword \u201c{hit}\u201d: banned word."],
    "spend": ["This is over the brief's budget of ${budget:,}; scale it back.",
              "Spend of ${spend:,} is more than the ${budget:,} the brief allowed.",
              "Keep the campaign within ${budget:,}, please."],
    "hold": ["Hold off on the {product} until the new photos are in.",
             "No {product} this month, please; it's on hold.",
             "Leave the {product} out for now: stock is on hold."],
    "other": ["Not the right week for this; hold it.", "Wrong product focus for this launch.",
              "Let's wait for the new photos."],
}
COMMENTS = ["Lovely.", "Good to go.", "Nice work.", "Approved; schedule for the morning.", "Looks right."]


def load(ws):
    d = HERE / "workspaces" / ws
    return {name: json.loads((d / f"{name}.json").read_text(encoding="utf-8"))
            for name in ["workspace", "brand-profile", "products", "creators"]}


def emoji_budget(policy):
    return {"none": 0, "sparing": 1, "expressive": 5}[policy]


class Brand:
    def __init__(self, ws, rng):
        self.ws = ws
        self.rng = rng
        data = load(ws)
        self.workspace = data["workspace"]
        self.brand = data["brand-profile"]
        self.products = data["products"]
        self.creators = data["creators"]
        self.max_tags = self.brand["hashtags"]["max_per_post"]
        self.emoji_budget = emoji_budget(self.brand["emoji_policy"])

    # ---- copy -------------------------------------------------------------

    def sentence(self, product):
        rng = self.rng
        first = product["description"].split(". ")[0].rstrip(".") + "."
        return rng.choice([first, rng.choice(self.brand["voice"]["sample_phrases"]), rng.choice(CLEAN_CLOSERS)])

    def copy(self, product, flaws, sentences=3):
        """A few sentences about the product, with the flaws worked in."""
        rng = self.rng
        parts = [f"{product['name']}."] + [self.sentence(product) for _ in range(sentences - 1)]
        if "discount" in flaws:
            parts.insert(rng.randrange(1, len(parts) + 1), flaws["discount"])
        if "urgency" in flaws:
            parts.append(flaws["urgency"])
        if "banned" in flaws:
            word = flaws["banned"]
            parts.insert(1, rng.choice([f"Honestly {word}.", f"A {word} pick for the season.",
                                        f"People call it {word}."]))
        text = " ".join(parts)
        n = flaws.get("emoji", 0)
        if n:
            text += " " + "".join(rng.choice(EMOJI) for _ in range(n))
        return text

    def hashtags(self, n):
        pool = list(self.brand["hashtags"]["pool"])
        self.rng.shuffle(pool)
        sig = self.brand["hashtags"]["signature"]
        return (sig + pool)[:n] if n >= len(sig) else sig[:n]

    # ---- flaws --------------------------------------------------------------

    def flaws(self, gate):
        """What this proposal carries, and how bad each flaw is for the brand."""
        rng, b = self.rng, self.brand
        flaws, bad = {}, []
        if gate != "ad_spend_gate":
            if rng.random() < 0.22:
                n = rng.choice([1, 1, 2, 3, 4, 6, 7])
                flaws["emoji"] = n
                if n > self.emoji_budget:
                    bad.append(("emoji:none" if self.emoji_budget == 0 else "emoji",
                                {"policy": b["emoji_policy"], "n": n}))
            if rng.random() < 0.15:
                hit = rng.choice(DISCOUNT)
                flaws["discount"] = hit
                if not b["discount_language_allowed"]:
                    bad.append(("discount", {"hit": hit.rstrip(".")}))
            if rng.random() < 0.12:
                hit = rng.choice(URGENCY)
                flaws["urgency"] = hit
                # Every brand's voice refuses pressure but the coffee brand's,
                # which only minds discounts it hasn't planned.
                if self.ws != "rival":
                    bad.append(("urgency", {"hit": hit.rstrip(".")}))
            if rng.random() < 0.10 and b["banned_words"]:
                word = rng.choice(b["banned_words"])
                flaws["banned"] = word
                bad.append(("banned", {"hit": word}))
        if gate == "publish_gate":
            n = rng.choice([self.max_tags - 2, self.max_tags - 1, self.max_tags, self.max_tags,
                            self.max_tags + 2, self.max_tags + 4])
            flaws["tags"] = max(1, n)
            if n > self.max_tags:
                bad.append(("hashtags", {"n": n, "max": self.max_tags}))
        return flaws, bad

    # ---- proposals by gate ---------------------------------------------------

    def listing(self, flaws):
        rng = self.rng
        out = []
        for p in rng.sample(self.products, rng.choice([1, 2])):
            options = []
            for angle in ["Seasonal", "Material & craft"]:
                options.append({
                    "angle": angle,
                    "title": f"{p['name']} \u2013 {angle}",
                    "bullets": [self.sentence(p) for _ in range(3)],
                    "description": self.copy(p, flaws, 4),
                })
            out.append({"product_id": p["id"], "product_name": p["name"], "options": options})
        return out

    def caption(self, flaws):
        p = self.rng.choice(self.products)
        return {"text": self.copy(p, flaws, 3), "hashtags": self.hashtags(flaws.get("tags", self.max_tags))}

    def outreach(self, flaws):
        rng = self.rng
        drafts = []
        for c in rng.sample(self.creators, rng.choice([2, 3])):
            p = rng.choice(self.products)
            first = c["name"].split()[0]
            drafts.append({
                "creator_id": c["id"], "handle": c["handle"], "name": c["name"], "platform": c["platform"],
                "message": f"Hi {first}, it's the {self.brand['brand_name']} team. " + self.copy(p, flaws, 3),
                "offer": self.brand["creator_offer"],
                "past_collaboration": c["past_collaboration"],
                "why": f"{c['followers']} followers on {c['platform']}; niche: {c['niche']}",
            })
        return drafts

    def campaigns(self):
        """Ad campaigns, their brief's budget and what is left of the cap."""
        rng = self.rng
        per_day = rng.choice([30, 50, 80, 120, 150, 200])
        days = rng.choice([7, 10, 14])
        budget = per_day * days
        cap = self.workspace["spend_cap_usd"]
        remaining = round(cap * rng.uniform(0.3, 1.0))
        r = rng.random()
        # Most ask for the brief's budget or less; some overshoot it.
        factor = rng.uniform(0.7, 1.0) if r < 0.72 else rng.uniform(1.05, 1.25) if r < 0.86 else rng.uniform(1.3, 2.5)
        total_daily = max(3, int(per_day * factor))
        placements = rng.sample(self.brand["ad_placements"], min(len(self.brand["ad_placements"]), rng.choice([1, 2, 3])))
        shares = [rng.uniform(1, 3) for _ in placements]
        campaigns = []
        for placement, share in zip(placements, shares):
            daily = max(1, int(total_daily * share / sum(shares)))
            audience = rng.choice(self.brand["audiences"])
            p = rng.choice(self.products)
            campaigns.append({
                "name": f"{p['name']} \u00b7 {audience['name']} \u00b7 {placement}",
                "audience": audience["name"], "placement": placement,
                "daily_budget_usd": daily, "days": days, "total_usd": daily * days,
                "creative": {"headline": p["name"], "asset_url": f"/assets/{p['id']}.svg"},
                "audience_interests": audience["interests"][:3],
                "rationale": f"{audience['name']} on {placement}.",
            })
        spend = sum(c["total_usd"] for c in campaigns)
        bad = []
        if spend > budget * 1.02:
            bad.append(("spend", {"spend": spend, "budget": budget}))
        if spend > remaining:
            bad.append(("spend", {"spend": spend, "budget": min(budget, remaining)}))
        return campaigns, budget, remaining, spend, bad

    # ---- decisions -----------------------------------------------------------

    def decide(self, bad, spend=None, budget=None):
        """A simulated approver: flaws are rejected nearly always when major,
        mostly when minor; a clean proposal is very rarely turned down."""
        rng = self.rng
        if bad:
            minor = len(bad) == 1 and bad[0][0] in ("hashtags", "emoji", "emoji:none") and (
                bad[0][1].get("n", 0) <= self.max_tags + 2 or bad[0][1].get("n", 0) <= self.emoji_budget + 2)
            if bad[0][0] == "spend" and spend is not None and budget and spend <= budget * 1.25:
                minor = True
            if rng.random() < (0.88 if minor else 0.98):
                reason, fields = bad[0]
                values = {"brand": self.brand["brand_name"], "max": self.max_tags, **fields}
                text = rng.choice(FEEDBACK[reason]).format(**values)
                return "rejected", text, None
            return "approved", None, None
        if rng.random() < 0.002:
            return "rejected", rng.choice(FEEDBACK["other"]), None
        return "approved", None, (rng.choice(COMMENTS) if rng.random() < 0.15 else None)

    def history(self):
        rng = self.rng
        members = self.workspace["members"]
        leads = [m for m in members if "ops-lead" in m["roles"]] or members
        out = []
        for gate in ["listings_gate", "publish_gate", "ad_spend_gate", "outreach_gate"]:
            for _ in range(PER_GATE):
                at = START + dt.timedelta(seconds=rng.randrange(DAYS * 86400))
                budget = remaining = None
                spend = None
                if gate == "ad_spend_gate":
                    proposal, budget, remaining, spend, bad = self.campaigns()
                    actor = rng.choice(leads if spend > 1000 else members)
                else:
                    flaws, bad = self.flaws(gate)
                    proposal = {"listings_gate": self.listing, "publish_gate": self.caption,
                                "outreach_gate": self.outreach}[gate](flaws)
                    actor = rng.choice(members)
                # One product is on hold this season: its proposals go back.
                hold = self.products[-1]["name"]
                if hold in json.dumps(proposal, ensure_ascii=False):
                    bad.append(("hold", {"product": hold}))
                verdict, feedback, comment = self.decide(bad, spend, budget)
                out.append({
                    "workflow": WORKFLOW, "gate": gate,
                    "at": at.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                    "proposal": proposal,
                    "verdict": verdict, "feedback": feedback, "comment": comment,
                    "actor": {"member_id": actor["id"], "name": actor["name"]},
                    "brief_budget_usd": budget, "spend_cap_remaining_usd": remaining,
                })
        out.sort(key=lambda d: (d["at"], d["gate"]))
        return out


def render(ws, seed):
    rng = random.Random(f"{seed}:{ws}")
    decisions = Brand(ws, rng).history()
    doc = {
        "synthetic": True,
        "about": "Invented decisions for trying the approver agent, generated from this brand's stated "
                 "preferences by samplesdata/generate-decision-history.py (seeded). Not real people's decisions.",
        "seed": seed,
        "decisions": decisions,
    }
    # One decision per line: compact, and a regenerated file diffs by decision.
    lines = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in decisions]
    head = json.dumps({k: v for k, v in doc.items() if k != "decisions"}, ensure_ascii=False, indent=1)
    return head[:-2] + ',\n "decisions": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args()
    stale = []
    for ws in ["demo", "harbor", "rival"]:
        path = HERE / "workspaces" / ws / "decision-history.json"
        text = render(ws, args.seed)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            n = text.count('"verdict"')
            print(f"{path.relative_to(HERE.parent)}: {n} decisions", file=sys.stderr)
    if stale:
        print("out of date (run samplesdata/generate-decision-history.py): " + ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
