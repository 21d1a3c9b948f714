"""The CLI's human sentences in English and Korean: the one-line summaries and the
``error: …`` sentences of the most used commands (records, consent, exchange, audit,
claims, and the helpers they share). JSON output, ids and the stable codes of a node's
or vault's refusal are the same in every language; ``error:`` stays the prefix, so a
script can look for it whatever the language.

The language: ``phrchain --lang en|ko``, else the first of ``LC_ALL``, ``LC_MESSAGES``,
``LANG`` that is set (POSIX order): Korean when it starts with ``ko``, English
otherwise. Codes (a status, a reason, a purpose) stay as the chain spells them.
"""

from __future__ import annotations

import os
from typing import Any, Final

LANGS: Final = ("en", "ko")
_ENV_ORDER: Final = ("LC_ALL", "LC_MESSAGES", "LANG")
_chosen: list[str] = []  # set by --lang for this process

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "en": {
        # -- shared ----------------------------------------------------------------------
        "none": "none",
        "entry": "entry",
        "entries": "entries",
        "committed": "committed in block {height}: tx {hash}",
        "submitted": "submitted, {status}: tx {hash} (follow it with GET /v1/txs/{hash})",
        "need_wallet": "this command signs a transaction: give --wallet FILE",
        "no_passphrase": "no passphrase for {what}: use --passphrase-file, {env} or run in "
                         "a terminal",
        "passphrase_unreadable": "cannot read passphrase file {path}: {why}",
        "passphrase_empty": "passphrase file {path} is empty",
        "passphrases_differ": "the passphrases differ",
        "need_vaults": "this command talks to vaults: give --vaults FILE or set {env} "
                       "(JSON {{organization DID: vault URL}})",
        "bad_directory": "{path} must be a JSON object {{organization DID: http(s) URL}}",
        "record_erased": "record {record} was erased (at height {height}, {reason}): its "
                         "ciphertext and keys are destroyed in every vault",
        "need_patient": "give --patient DID (or --wallet, to mean yourself)",
        "no_such": "no such {what} on chain: {id}",
        "list_empty": "{what}: give at least one, comma-separated",
        "list_unknown": "{what}: unknown {unknown}; choose from {allowed}",
        "scope_missing": "give --scope all|records:ID,…|resources:Type,…|categories:name,…",
        "scope_all_alone": "--scope all cannot be combined with another --scope",
        "scope_bad": "--scope {spec}: expected all, records:…, resources:… or categories:…",
        "scope_missing_ids": "give --scope all|records:ID,… (a request names the patient's "
                             "record ids or all records, never categories or types)",
        "scope_bad_ids": "--scope {spec}: expected all or records:… (a request names the "
                         "patient's record ids or all records, never categories or types)",
        "days_min": "--days must be at least 1",
        "exists": "{path} already exists; refusing to overwrite it",
        "bytes_written": "{n} bytes written to {path}",
        "not_json": "the record is not JSON text: give --out FILE to save its bytes",
        "decision": "access permitted ({reason}{consent}, decided at height {height})",
        "decision_consent": ", consent {consent}",
        # -- records ---------------------------------------------------------------------
        "records.raw_needs": "--raw needs --resource TYPE and --category NAME",
        "records.raw_only": "--resource and --category are read from the FHIR resource; "
                            "they go with --raw only",
        "records.added": "registered in block {height}: {resource} ({category}), {size} "
                         "bytes sealed in the vault of {custodian}",
        "records.no_did": "{path} names no DID for the Bundle's Patient {ids}",
        "records.not_did": "{path} maps the Bundle's Patient {ids} to something that is not "
                           "a did:key",
        "records.set_aside": "setting aside {n} shared resource(s) ({kinds}): {reason}",
        "records.sealing": "sealing {total} resource(s) of {patients} patient(s)…",
        "records.bg_reason": "--break-glass needs --reason TEXT: say why this emergency "
                             "access cannot wait for the patient's consent",
        "records.bg_purpose": "break-glass is emergency treatment: its purpose is ETREAT",
        "records.bg_or_view": "give --break-glass or --view, not both",
        "records.reason_bg_only": "--reason goes with --break-glass only",
        "records.view_no_out": "--view displays the record and keeps nothing: drop --out, "
                               "or read without --view to save a copy",
        "records.receipt_bg_only": "--receipt goes with --break-glass only",
        "records.break_glass": "BREAK-GLASS access to record {record}: flagged in the "
                               "patient's audit log, and the patient is notified.\n"
                               "  your reason (not sent anywhere; keep it with the "
                               "receipt): {reason}\n"
                               "  its salted commitment {commitment} is signed into request "
                               "{request}, which the audit log names\n",
        "records.receipt_written": "  receipt written to {path}",
        "records.receipt_shown": "  receipt (keep it; `phrchain audit justify` checks "
                                 "it):\n{receipt}",
        "records.range_bounds": "--start must be >= 0 and --length >= 1",
        "records.range": "{n} bytes from offset {start} written to {path} (each chunk "
                         "checked against the record's on-chain root)",
        "records.erased": "record {record} erased on chain ({reason}); the vaults holding "
                          "it ({holders}) destroy its ciphertext and keys at their next "
                          "sync, and refuse it from now on",
        "records.exported": "{n} resource(s) written to {path} as a FHIR R4 collection "
                            "Bundle (validated); records you may not open, erased ones and "
                            "genomic objects are left out",
        # -- consent ---------------------------------------------------------------------
        "consent.role_org": "--role-org goes with --role",
        "consent.granted": "granted consent {consent} to {kind} {id}: {actions} for "
                           "{purposes}, {days} day(s)",
        "consent.share_failed": "the consent is granted, but re-wrapping keys for existing "
                                "records failed; retry with: phrchain consent share "
                                "{consent}",
        "consent.shared": "re-wrapped {n} record key(s) for the grantee",
        "consent.covers": "the consent names {n} record id(s) on chain (the records you hold "
                          "now that match your choice; categories and types stay on this "
                          "computer): records added later are covered by --scope all only",
        "consent.shared_for": "re-wrapped {n} record key(s) for the grantee of consent "
                              "{consent}",
        "consent.only_patient": "only the patient shares keys, with their own wallet",
        "consent.not_active": "consent {consent} is {status}",
        "consent.revoked": "revoked consent {consent}: every later access decision refuses it",
        # -- exchange --------------------------------------------------------------------
        "exchange.approved_at_once": "approved at once by a standing consent: pull with "
                                     "`phrchain exchange pull {request} RECORD`",
        "exchange.waiting": "{status}: waiting for the patient's answer",
        "exchange.approved": "approved request {request} for {days} day(s): it is now "
                             "consent {request} (revoke it with `phrchain consent revoke "
                             "{request}`)",
        "exchange.denied": "denied request {request}",
        "exchange.copy_kept": "a copy is kept in the vault of {org} (recorded on chain as a "
                              "holder)",
        "exchange.pushed": "pushed record {record} to {to} under the patient's push consent",
        # -- audit -----------------------------------------------------------------------
        "audit.comet_genesis": "--cometbft-rpc needs --genesis with the network's CometBFT "
                               "genesis (its validator set)",
        "audit.anchor_comet": "more than 2/3 of the {n}-validator set of {path} (CometBFT "
                              "commits)",
        "audit.anchor_pinned": "validator {validator} (pinned)",
        "audit.anchor_reported": "validator {validator} (as reported by the node)",
        "audit.trusting_node": "warning: trusting the validator DID the node reports; pin "
                               "it with --validator or --genesis",
        "audit.log": "{n} {entries}, each included in the log head at height {height}, "
                     "proven against its signed header",
        "audit.verified": "audit log of {patient}: {n} {entries} verified",
        "audit.verified_entries": "  each entry: inclusion proof against the log head of the "
                                  "block that added it ({blocks} block(s))",
        "audit.verified_heads": "  {heads} head(s) at heights {first}..{last}, each proven "
                                "against the app hash signed by {how}",
        "audit.verified_consistency": "  {n} consistency proof(s) between successive heads, "
                                      "up to the latest (height {height}, size {size}, root "
                                      "{root})",
        "audit.reason_needed": "give --reason TEXT or --reason-file FILE (the reason your "
                               "institution recorded)",
        "audit.record_unknown": "record {record} is unknown: give --patient",
        "audit.not_in_log": "request {request} is not (yet) in the patient's audit log: the "
                            "vault may not have sent it; try again shortly",
        "audit.not_this_access": "the audit entry of that request is not this break-glass "
                                 "access",
        "audit.justified": "justified: the reason matches the commitment {commitment}",
        "audit.opened": "  {opened} opened and checked against their commitments, "
                        "{sealed} sealed to keys not given",
        "audit.sealed": "sealed",
        "audit.key_exists": "{path} exists: give a new file",
        "audit.key_written": "audit key file of {did} written to {path} (a secret: keep it "
                             "owner-only)",
        "audit.signed_by": "  signed by {caller} into request {request}",
        "audit.unchecked": " (caller no longer registered: signature unchecked)",
        "audit.entry_of": "  which is entry {index} of {patient}'s audit log (break_glass, "
                          "{decision}), included at height {height} and proven against {how}",
        # -- claims ----------------------------------------------------------------------
        "claims.line_format": "--line {text}: write SYSTEM|CODE=AMOUNT",
        "claims.new_key": "wrote a new product key to {path} (a secret: give it to enrolees "
                          "only)",
        "claims.published": "published product {product} version {version} ('{name}'); its "
                            "codes are on chain as tags only",
        "claims.review_how": "give --approve AMOUNT or --deny REASON",
        "claims.read": "{n} record(s) read under the claim's HPAYMT consent (each an "
                       "audited access)",
        "claims.enrolled": "enrolled in {product} of {insurer} for {days} day(s)",
        "claims.filed": "claim {claim}: {status}, payout {payout} ({payment}); reasons: "
                        "{reasons}",
        "claims.list_how": "give one of --patient, --insurer or --reason",
        "claims.paid": "paid bill {bill}",
        "supply.new_key": "wrote a new monitoring key to {path} (a secret: for pharmacies, "
                          "prescribers and the regulator only)",
        "supply.recorded": "{step} recorded, event hash id {event_hash}",
        "supply.ingredient": "an ingredient is RXNORM:ATC:MICROGRAMS, not {text}",
        "supply.epcis": "{path} is not an EPCIS 2.0 document phrchain can hash: {detail}",
        "supply.scan": "not a GS1 code phrchain accepts: {detail}",
        "supply.authorization": "{path} is not what supply prescribe printed: {detail}",
        "supply.report_files": "the movements report needs EPCIS documents (your copies)",
        "supply.report_log": "the nims report needs --log (the pharmacy's log file)",
        "supply.given_mg": "--given-mg must be a positive amount in mg with at most 3 "
                           "decimals, not {text}",
        "supply.not_recorded": "left out: event {event_hash} is not recorded on chain",
        "trials.registered": "registered trial {trial} at the block's time; keep the "
                             "protocol's salt {salt} with the document",
        "trials.amended": "trial {trial} is at version {version}; keep the protocol's salt "
                          "{salt} with the document",
        "trials.committed": "committed the {kind} of trial {trial}; keep its salt {salt} "
                            "with the document",
        "trials.entry": "anchored entry {entry}; keep its salt {salt} with the data",
        "trials.verified": "the proof file verifies: trial {trial}, {n} state entries at "
                           "height {height}, exported by {exporter}",
        "trials.wrote": "wrote {path}",
        "trials.need_trust": "give exactly one trust root: --validator DID (a solo-engine "
                             "file) or --trust genesis.json (a CometBFT file)",
        "trials.document": "wrote {path}: the {kind} of trial {trial}, matching its "
                           "commitment on chain",
        "research.deidentified": "de-identified {patients} patients into {out}: k = {k}, "
                                 "l = {l} (report.json says what changed)",
        "research.wrote": "wrote {path}",
        "research.included": "proven: record {record} is in dataset {dataset} (height "
                             "{height})",
        "research.excluded": "proven: record {record} is not in dataset {dataset} (height "
                             "{height})",
    },
    "ko": {
        "none": "없음",
        "entry": "항목",
        "entries": "항목",
        "committed": "{height}번 블록에 기록됨: 트랜잭션 {hash}",
        "submitted": "제출됨, {status}: 트랜잭션 {hash} (GET /v1/txs/{hash} 로 확인하세요)",
        "need_wallet": "이 명령은 트랜잭션에 서명합니다: --wallet 파일을 지정하세요",
        "no_passphrase": "{what}의 암호가 없습니다: --passphrase-file 이나 {env} 를 쓰거나 "
                         "터미널에서 실행하세요",
        "passphrase_unreadable": "암호 파일 {path} 을(를) 읽을 수 없습니다: {why}",
        "passphrase_empty": "암호 파일 {path} 이(가) 비어 있습니다",
        "passphrases_differ": "두 암호가 다릅니다",
        "need_vaults": "이 명령은 보관소와 통신합니다: --vaults 파일을 지정하거나 {env} 를 "
                       "설정하세요 (JSON {{기관 DID: 보관소 URL}})",
        "bad_directory": "{path} 은(는) JSON 객체 {{기관 DID: http(s) URL}} 이어야 합니다",
        "record_erased": "기록 {record} 은(는) 삭제되었습니다 (높이 {height}, {reason}): "
                         "암호문과 키가 모든 보관소에서 파기되었습니다",
        "need_patient": "--patient DID 를 지정하세요 (본인이면 --wallet)",
        "no_such": "체인에 그런 {what} 이(가) 없습니다: {id}",
        "list_empty": "{what}: 쉼표로 구분해 하나 이상 지정하세요",
        "list_unknown": "{what}: 알 수 없는 값 {unknown}; 다음 중에서 고르세요: {allowed}",
        "scope_missing": "--scope all|records:ID,…|resources:Type,…|categories:name,… 를 "
                         "지정하세요",
        "scope_all_alone": "--scope all 은 다른 --scope 와 함께 쓸 수 없습니다",
        "scope_bad": "--scope {spec}: all, records:…, resources:… 또는 categories:… 이어야 "
                     "합니다",
        "scope_missing_ids": "--scope all|records:ID,… 를 지정하세요 (요청은 환자의 기록 "
                             "ID 또는 모든 기록만 지정하며, 분류나 유형은 지정하지 않습니다)",
        "scope_bad_ids": "--scope {spec}: all 또는 records:… 이어야 합니다 (요청은 환자의 "
                         "기록 ID 또는 모든 기록만 지정하며, 분류나 유형은 지정하지 않습니다)",
        "days_min": "--days 는 1 이상이어야 합니다",
        "exists": "{path} 이(가) 이미 있습니다; 덮어쓰지 않습니다",
        "bytes_written": "{n}바이트를 {path} 에 저장했습니다",
        "not_json": "이 기록은 JSON 텍스트가 아닙니다: 바이트를 저장하려면 --out 파일을 "
                    "지정하세요",
        "decision": "열람 허용 ({reason}{consent}, 높이 {height}에서 결정)",
        "decision_consent": ", 동의 {consent}",
        "records.raw_needs": "--raw 에는 --resource 유형과 --category 이름이 필요합니다",
        "records.raw_only": "--resource 와 --category 는 FHIR 리소스에서 읽습니다; --raw 와 "
                            "함께만 씁니다",
        "records.added": "{height}번 블록에 등록됨: {resource} ({category}), {size}바이트를 "
                         "{custodian} 의 보관소에 암호화해 보관",
        "records.no_did": "{path} 에 번들의 환자 {ids} 의 DID 가 없습니다",
        "records.not_did": "{path} 이(가) 번들의 환자 {ids} 을(를) did:key 가 아닌 값에 "
                           "연결합니다",
        "records.set_aside": "공유 리소스 {n}개를 제외합니다 ({kinds}): {reason}",
        "records.sealing": "환자 {patients}명의 리소스 {total}개를 암호화하는 중…",
        "records.bg_reason": "--break-glass 에는 --reason 이 필요합니다: 이 응급 열람이 환자의 "
                             "동의를 기다릴 수 없는 이유를 적으세요",
        "records.bg_purpose": "응급 열람(break-glass)은 응급 치료용입니다: 목적은 ETREAT 입니다",
        "records.bg_or_view": "--break-glass 와 --view 중 하나만 지정하세요",
        "records.reason_bg_only": "--reason 은 --break-glass 와 함께만 씁니다",
        "records.view_no_out": "--view 는 기록을 보여 주기만 하고 남기지 않습니다: --out 을 "
                               "빼거나, 사본을 저장하려면 --view 없이 읽으세요",
        "records.receipt_bg_only": "--receipt 는 --break-glass 와 함께만 씁니다",
        "records.break_glass": "기록 {record} 응급 열람(BREAK-GLASS): 환자의 감사 로그에 "
                               "표시되고 환자에게 알림이 갑니다.\n"
                               "  입력한 사유 (어디에도 보내지 않음; 영수증과 함께 보관하세요): "
                               "{reason}\n"
                               "  사유의 솔트 해시 {commitment} 는 감사 로그가 가리키는 요청 "
                               "{request} 에 서명되어 있습니다\n",
        "records.receipt_written": "  영수증을 {path} 에 저장했습니다",
        "records.receipt_shown": "  영수증 (보관하세요; `phrchain audit justify` 로 "
                                 "확인합니다):\n{receipt}",
        "records.range_bounds": "--start 는 0 이상, --length 는 1 이상이어야 합니다",
        "records.range": "오프셋 {start}부터 {n}바이트를 {path} 에 저장했습니다 (각 청크를 "
                         "체인의 루트와 대조함)",
        "records.erased": "기록 {record} 을(를) 체인에서 삭제했습니다 ({reason}); 이 기록을 "
                          "가진 보관소({holders})는 다음 동기화 때 암호문과 키를 파기하고, "
                          "이제부터 요청을 거절합니다",
        "records.exported": "리소스 {n}개를 FHIR R4 collection 번들로 {path} 에 "
                            "저장했습니다 (검증됨); 열 수 없는 기록, 삭제된 기록, 유전체 "
                            "데이터는 빠졌습니다",
        "consent.role_org": "--role-org 는 --role 과 함께 씁니다",
        "consent.granted": "동의 {consent} 를 {kind} {id} 에게 부여했습니다: {purposes} 목적으로 "
                           "{actions}, {days}일",
        "consent.share_failed": "동의는 부여되었지만 기존 기록의 키를 다시 감싸는 데 "
                                "실패했습니다; 다시 시도: phrchain consent share {consent}",
        "consent.shared": "받는 사람을 위해 기록 키 {n}개를 다시 감쌌습니다",
        "consent.covers": "동의는 체인에 기록 ID {n}개를 적습니다 (지금 가진 기록 중 선택에 "
                          "맞는 것; 분류와 유형은 이 컴퓨터에만 남습니다): 나중에 추가되는 "
                          "기록은 --scope all 로만 포함됩니다",
        "consent.shared_for": "동의 {consent} 의 받는 사람을 위해 기록 키 {n}개를 다시 "
                              "감쌌습니다",
        "consent.only_patient": "키는 환자만, 자신의 지갑으로 공유할 수 있습니다",
        "consent.not_active": "동의 {consent} 의 상태는 {status} 입니다",
        "consent.revoked": "동의 {consent} 를 철회했습니다: 이후의 모든 열람 요청이 "
                           "거절됩니다",
        "exchange.approved_at_once": "기존 동의로 바로 승인되었습니다: `phrchain exchange "
                                     "pull {request} RECORD` 로 가져오세요",
        "exchange.waiting": "{status}: 환자의 응답을 기다리는 중",
        "exchange.approved": "요청 {request} 를 {days}일 동안 승인했습니다: 이제 동의 "
                             "{request} 입니다 (철회: `phrchain consent revoke {request}`)",
        "exchange.denied": "요청 {request} 를 거절했습니다",
        "exchange.copy_kept": "사본을 {org} 의 보관소에 보관합니다 (체인에 보유자로 기록됨)",
        "exchange.pushed": "환자의 전송 동의에 따라 기록 {record} 를 {to} 에게 보냈습니다",
        "audit.comet_genesis": "--cometbft-rpc 에는 네트워크의 CometBFT 제네시스(검증자 "
                               "집합)를 담은 --genesis 가 필요합니다",
        "audit.anchor_comet": "{path} 의 검증자 {n}명 중 2/3 초과 (CometBFT 커밋)",
        "audit.anchor_pinned": "검증자 {validator} (고정됨)",
        "audit.anchor_reported": "검증자 {validator} (노드가 알려 준 값)",
        "audit.trusting_node": "경고: 노드가 알려 준 검증자 DID 를 믿습니다; --validator 나 "
                               "--genesis 로 고정하세요",
        "audit.log": "{n}개 {entries}, 각각 높이 {height}의 로그 헤드에 포함되며 서명된 "
                     "헤더로 증명됨",
        "audit.verified": "{patient} 의 감사 로그: {n}개 {entries} 검증됨",
        "audit.verified_entries": "  각 항목: 그 항목을 추가한 블록의 로그 헤드에 대한 포함 "
                                  "증명 (블록 {blocks}개)",
        "audit.verified_heads": "  높이 {first}..{last} 의 헤드 {heads}개, 각각 {how} 이(가) "
                                "서명한 앱 해시로 증명됨",
        "audit.verified_consistency": "  연속된 헤드 사이의 일관성 증명 {n}개, 최신까지 (높이 "
                                      "{height}, 크기 {size}, 루트 {root})",
        "audit.reason_needed": "--reason 이나 --reason-file 을 지정하세요 (기관이 기록한 "
                               "사유)",
        "audit.record_unknown": "기록 {record} 을(를) 알 수 없습니다: --patient 를 지정하세요",
        "audit.not_in_log": "요청 {request} 이(가) 아직 환자의 감사 로그에 없습니다: 보관소가 "
                            "아직 보내지 않았을 수 있으니 잠시 후 다시 시도하세요",
        "audit.not_this_access": "그 요청의 감사 항목은 이 응급 열람이 아닙니다",
        "audit.justified": "정당함: 사유가 해시 {commitment} 와 일치합니다",
        "audit.opened": "  항목 {opened}개를 열어 커밋먼트와 대조함, {sealed}개는 주어지지 않은 "
                        "키로 봉인됨",
        "audit.sealed": "봉인됨",
        "audit.key_exists": "{path} 이(가) 이미 있습니다: 새 파일을 지정하세요",
        "audit.key_written": "{did} 의 감사 키 파일을 {path} 에 썼습니다 (비밀: 소유자만 "
                             "읽게 보관하세요)",
        "audit.signed_by": "  {caller} 가 요청 {request} 에 서명함",
        "audit.unchecked": " (호출자가 더 이상 등록되어 있지 않음: 서명 미확인)",
        "audit.entry_of": "  {patient} 의 감사 로그 {index}번 항목 (break_glass, {decision}), "
                          "높이 {height}에 포함되고 {how} 기준으로 증명됨",
        "claims.line_format": "--line {text}: SYSTEM|CODE=AMOUNT 형식으로 쓰세요",
        "claims.new_key": "새 상품 키를 {path} 에 저장했습니다 (비밀: 가입자에게만 주세요)",
        "claims.published": "상품 {product} 버전 {version} ('{name}') 을(를) 게시했습니다; "
                            "코드는 체인에 태그로만 기록됩니다",
        "claims.review_how": "--approve 금액 이나 --deny 사유 를 지정하세요",
        "claims.read": "청구의 보험금 지급(HPAYMT) 동의에 따라 기록 {n}건을 읽었습니다 "
                       "(각각 감사 기록됨)",
        "claims.enrolled": "{insurer} 의 상품 {product} 에 {days}일 동안 가입했습니다",
        "claims.filed": "청구 {claim}: {status}, 지급액 {payout} ({payment}); 사유: "
                        "{reasons}",
        "claims.list_how": "--patient, --insurer, --reason 중 하나를 지정하세요",
        "claims.paid": "청구서 {bill} 을(를) 결제했습니다",
        "supply.new_key": "새 모니터링 키를 {path} 에 저장했습니다 (비밀: 약국, 처방의, "
                          "규제기관만 가집니다)",
        "supply.recorded": "{step} 기록됨, 이벤트 해시 ID {event_hash}",
        "supply.ingredient": "성분은 RXNORM:ATC:마이크로그램 형식입니다 ({text} 아님)",
        "supply.epcis": "{path} 은(는) 해시할 수 있는 EPCIS 2.0 문서가 아닙니다: {detail}",
        "supply.scan": "받을 수 없는 GS1 코드입니다: {detail}",
        "supply.authorization": "{path} 은(는) supply prescribe 가 출력한 파일이 아닙니다: "
                                "{detail}",
        "supply.report_files": "이동 보고서에는 EPCIS 문서(내 사본)가 필요합니다",
        "supply.report_log": "nims 보고서에는 --log (약국 기록 파일)이 필요합니다",
        "supply.given_mg": "--given-mg 는 소수점 셋째 자리까지의 양수 mg 값이어야 합니다 "
                           "({text} 아님)",
        "supply.not_recorded": "제외됨: 이벤트 {event_hash} 는 체인에 기록되어 있지 않습니다",
        "trials.registered": "시험 {trial} 을 블록 시각으로 등록했습니다; 프로토콜의 솔트 "
                             "{salt} 를 문서와 함께 보관하세요",
        "trials.amended": "시험 {trial} 은 이제 버전 {version} 입니다; 프로토콜의 솔트 {salt} 를 "
                          "문서와 함께 보관하세요",
        "trials.committed": "시험 {trial} 의 {kind} 를 기록했습니다; 솔트 {salt} 를 문서와 함께 "
                            "보관하세요",
        "trials.entry": "항목 {entry} 을 기록했습니다; 솔트 {salt} 를 데이터와 함께 보관하세요",
        "trials.verified": "증명 파일이 검증되었습니다: 시험 {trial}, {height}번 블록의 상태 "
                           "항목 {n}개, 내보낸 이 {exporter}",
        "trials.wrote": "{path} 에 저장했습니다",
        "trials.need_trust": "신뢰 기준을 하나만 주세요: --validator DID (단일 노드 엔진 파일) "
                             "또는 --trust genesis.json (CometBFT 파일)",
        "trials.document": "{path} 에 저장했습니다: 시험 {trial} 의 {kind}, 체인의 커밋과 "
                           "일치합니다",
        "research.deidentified": "환자 {patients}명을 비식별화하여 {out} 에 저장했습니다: "
                                 "k = {k}, l = {l} (바뀐 내용은 report.json 에 있습니다)",
        "research.wrote": "{path} 에 저장했습니다",
        "research.included": "증명됨: 기록 {record} 은 데이터셋 {dataset} 에 포함되어 "
                             "있습니다 ({height}번 블록)",
        "research.excluded": "증명됨: 기록 {record} 은 데이터셋 {dataset} 에 포함되어 있지 "
                             "않습니다 ({height}번 블록)",
    },
}


def set_lang(lang: str | None) -> None:
    """``--lang``: this process speaks ``lang`` (None: follow the environment)."""
    _chosen.clear()
    if lang is not None:
        if lang not in LANGS:
            raise ValueError(f"language must be one of {', '.join(LANGS)}")
        _chosen.append(lang)


def current() -> str:
    if _chosen:
        return _chosen[0]
    for name in _ENV_ORDER:
        value = os.environ.get(name)
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def say(key: str, **values: Any) -> str:
    """The sentence ``key`` in the current language, ``{name}`` filled from ``values``."""
    return MESSAGES[current()][key].format(**values)
