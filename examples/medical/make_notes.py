"""Regenerate ``notes.jsonl`` (12 hand-written notes plus seeded synthetic ones) and
``summaries.jsonl`` (a note -> short summary task for prompt-completion training).

All PHI in these notes is invented (Faker and public gazetteers); nothing comes from a real
record. ``python examples/medical/make_notes.py`` rewrites the files. It also writes
``notes.truth.jsonl``: where the generator put each PHI value (record id, offsets, entity
type; never the text), which ``score_demo.py`` scores the demo's scrub against. The truth is
shipped rather than regenerated because Faker's output changes between its releases.

``summaries.jsonl`` holds :data:`SUMMARIES` records ``{id, patient_id, prompt, completion}``
for :data:`SUMMARY_PATIENTS` invented patients: the prompt is an instruction and an
admission note (with invented PHI: name, dates, hospital, doctor, MRN, phone); the
completion is a one-sentence summary built from the same generated facts (age, sex,
diagnosis, treatment, where the patient went), with no identifier in it. The facts are
drawn from ``random.Random(SUMMARY_SEED)``, the identifiers from a Faker seeded the same way.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

from faker import Faker

from securetune.scrub.synthetic import generate_notes

HERE = Path(__file__).parent
PATIENTS = 60
NOTES = 228
SUMMARIES = 240
SUMMARY_PATIENTS = 120
SUMMARY_SEED = 2027
FIRST_DAY, LAST_DAY = date(2021, 1, 1), date(2024, 12, 31)  # fixed: not relative to today
INSTRUCTION = "Summarize the admission note in one sentence."

# (presenting complaint, diagnosis, finding that shows it, treatment)
CASES = (
    (
        "shortness of breath",
        "heart failure exacerbation",
        "BNP 1450 and bilateral effusions",
        "IV furosemide",
    ),
    (
        "fever and productive cough",
        "community-acquired pneumonia",
        "right lower lobe consolidation",
        "ceftriaxone and azithromycin",
    ),
    (
        "crushing chest pain",
        "NSTEMI",
        "troponin rising to 2.3",
        "heparin and cardiac catheterization",
    ),
    (
        "right lower quadrant pain",
        "acute appendicitis",
        "an inflamed appendix on CT",
        "laparoscopic appendectomy",
    ),
    ("new confusion", "urinary tract infection", "positive urine culture", "IV ceftriaxone"),
    (
        "palpitations",
        "atrial fibrillation with rapid rate",
        "irregular rhythm at 150 on ECG",
        "diltiazem and apixaban",
    ),
    (
        "a swollen left calf",
        "deep vein thrombosis",
        "a popliteal clot on ultrasound",
        "enoxaparin then apixaban",
    ),
    (
        "vomiting and thirst",
        "diabetic ketoacidosis",
        "glucose 540 with an anion gap of 24",
        "an insulin drip and IV fluids",
    ),
    (
        "a fall at home",
        "left hip fracture",
        "a displaced femoral neck fracture on X-ray",
        "hip hemiarthroplasty",
    ),
    (
        "right-sided weakness",
        "acute ischemic stroke",
        "a left MCA occlusion on CT angiography",
        "thrombolysis and aspirin",
    ),
    (
        "black stools",
        "upper GI bleeding",
        "hemoglobin 6.8 and a duodenal ulcer on endoscopy",
        "pantoprazole and transfusion",
    ),
    (
        "wheezing",
        "COPD exacerbation",
        "hypercapnia on blood gas",
        "nebulized albuterol and prednisone",
    ),
)
DISPOSITIONS = (
    "discharged home",
    "discharged to rehab",
    "discharged to a nursing facility",
    "discharged home with home health",
)
FOLLOW_UPS = ("primary care in one week", "cardiology in two weeks", "the clinic in ten days")
VITALS = (
    "BP {sys}/{dia}, HR {hr}, temp {temp}.",
    "Vitals on arrival: HR {hr}, BP {sys}/{dia}, T {temp}.",
)


def main() -> None:
    lines = (HERE / "handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    truth: list[str] = []
    for i, note in enumerate(generate_notes(NOTES, seed=2026), start=len(lines) + 1):
        record = {
            "id": f"note-{i:03d}",
            "patient_id": f"P{100 + i % PATIENTS:03d}",
            "text": note.text,
        }
        lines.append(json.dumps(record))
        truth.extend(
            json.dumps(
                {
                    "record": record["id"],
                    "start": s.start,
                    "end": s.end,
                    "entity_type": s.entity_type,
                }
            )
            for s in note.spans
        )
    (HERE / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (HERE / "notes.truth.jsonl").write_text("\n".join(truth) + "\n", encoding="utf-8")
    write_summaries()


def summary_records() -> list[dict[str, str]]:
    """The note -> summary pairs, the same for the same seed and Faker release."""
    rng = random.Random(SUMMARY_SEED)
    fake = Faker("en_US")
    fake.seed_instance(SUMMARY_SEED)
    patients = []
    for _ in range(SUMMARY_PATIENTS):
        sex = rng.choice(("man", "woman"))
        first = fake.first_name_male() if sex == "man" else fake.first_name_female()
        patients.append(
            {
                "name": f"{first} {fake.last_name()}",
                "age": rng.randint(24, 88),  # under 90: an age is only PHI above 89
                "sex": sex,
                "mrn": f"{rng.randint(0, 9999999):07d}",
                "phone": f"{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}",
            }
        )
    records = []
    for i in range(SUMMARIES):
        # every patient has at least one note; the rest are second admissions
        number = i if i < SUMMARY_PATIENTS else rng.randrange(SUMMARY_PATIENTS)
        pt = patients[number]
        complaint, diagnosis, finding, treatment = rng.choice(CASES)
        disposition, follow_up = rng.choice(DISPOSITIONS), rng.choice(FOLLOW_UPS)
        admitted = fake.date_between(start_date=FIRST_DAY, end_date=LAST_DAY)
        vitals = rng.choice(VITALS).format(
            sys=rng.randint(95, 175),
            dia=rng.randint(55, 100),
            hr=rng.randint(58, 128),
            temp=f"{rng.uniform(36.4, 39.2):.1f}",
        )
        workup = f"Workup showed {finding}."
        middle = [workup, vitals] if rng.random() < 0.5 else [vitals, workup]
        note = " ".join(
            [
                f"{pt['name']} (MRN {pt['mrn']}) is {_a(pt['age'])} {pt['age']} year old {pt['sex']} admitted to "
                f"{fake.last_name()} Memorial Hospital on {admitted:%m/%d/%Y} with {complaint}.",
                *middle,
                f"Treated with {treatment}.",
                f"Seen by Dr. {fake.last_name()}.",
                f"Assessment: {diagnosis}.",
                f"Plan: {disposition}, follow up with {follow_up}.",
                f"Contact {pt['phone']}.",
            ]
        )
        summary = (
            f"{pt['age']}-year-old {pt['sex']} with {diagnosis}, treated with {treatment}; "
            f"{disposition}."
        )
        records.append(
            {
                "id": f"sum-{i + 1:03d}",
                "patient_id": f"P{200 + number:03d}",
                "prompt": f"{INSTRUCTION}\n\n{note}\n\nSummary:",
                "completion": summary,
            }
        )
    return records


def _a(age: int) -> str:
    return "an" if str(age).startswith("8") or age in (11, 18) else "a"


def write_summaries() -> None:
    lines = [json.dumps(r) for r in summary_records()]
    (HERE / "summaries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import sys

    # --summaries: only summaries.jsonl (notes.jsonl and its truth stay as shipped)
    write_summaries() if sys.argv[1:] == ["--summaries"] else main()
