/*
 * proto.h - every IPC message ncmta's processes exchange, with its fields
 * in order. The IPC table in doc/design.md is the readable version of this file;
 * keep the two in step. Field types: u32, u64, dbl (double), str, data.
 */
#ifndef NCMTA_PROTO_H
#define NCMTA_PROTO_H

enum nc_msgtype {
	/* master -> any child, over the child's control socketpair (fd 3) */
	M_CTL_FLUSH = 1, /* u32 n, n x u64 qid (n == 0: all deferred);
			    to the resolver: empty its cache */
	M_CTL_RELOAD, /* str ncmta.conf text, str routing table text,
			 str aliases text, str generic_maps text, str
			 myorigin (as the master resolved it: /etc/mailname
			 is outside the chroots): the new configuration,
			 already checked by the master (daemons in a chroot
			 cannot read it themselves) */
	M_CTL_STOP, /* (empty) finish in-flight work and exit 0 */
	M_CTL_STATUS, /* (empty) ask for counters */
	M_CTL_DNS_FLUSHED, /* (empty) to qmgr: the resolver's cache was
			      emptied; look destinations up again */
	M_CTL_SECRET, /* to an smtp worker, answering M_CHILD_SECRET_REQ:
			 u64 request, u32 found (0/1), str user,
			 str password */
	M_CTL_METRICS, /* to metricsd, answering M_CHILD_METRICS_REQ:
			  u64 request, str the exposition text */
	/* any child -> master */
	M_CHILD_READY = 20, /* u32 pid */
	M_CHILD_STATUS, /* str "key=value ..." counters */
	M_CHILD_SECRET_REQ, /* smtp worker: u64 request, str host, u32 port:
			       the AUTH credentials for that smart host (the
			       master reads secrets_file; workers cannot) */
	M_CHILD_METRICS, /* u32 n, n x (u32 id (enum ncm_id), u64 value): a
			    counter's increase since the last frame, or a
			    gauge's current value in this process
			    (common/metrics.h) */
	M_CHILD_METRICS_REQ, /* metricsd: u64 request: the exposition text
				for one scrape, answered by M_CTL_METRICS */

	/* pickup -> qmgr (private/qmgr) */
	M_PICKUP_HELLO = 40, /* u32 pid */
	M_PICKUP_NEW, /* u32 n, n x u64 qid: committed, ready for qmgr */

	/* smtp worker -> qmgr (private/qmgr) */
	M_SMTP_HELLO = 60, /* u32 pid, u32 max sessions */
	M_SMTP_RCPT, /* u64 job, u32 rcpt index, u32 class (2/4/5),
			      str dsn, str reply text, str relay */
	M_SMTP_DONE, /* u64 job, u32 session class (2; 4 = the destination
			failed at session level; SMTP_DONE_REFUSED = the job
			itself cannot be run: a field qmgr should not have
			sent), str reason */
	M_SMTP_TLS = 63, /* u64 job, str mx (the exchanger's name), u32
			    policy (TLSRPT_P_*), u32 result (TLSRPT_R_*):
			    one connection's TLS outcome, for TLS reporting
			    (RFC 8460); never for a relay */

	/* qmgr -> smtp worker */
	M_JOB_BEGIN = 80, /* u64 job, u64 qid, str sender, u64 size,
			     dbl arrival, dbl t_active, dbl t_handoff,
			     u32 flags (JOB_F_*), u32 DSN notify
			     (DSN_NOTIFY_* bits, 0 = not given), u32 DSN
			     ret (DSN_RET_*, 0 = not given), str ENVID,
			     u32 nhosts,
			     nhosts x (str name, str addr, u32 port,
			     u32 host flags HOST_F_*, str nexthop: the
			     smart host's name as configured, "" for an
			     exchanger, str tlsa: under TLS_DANE the
			     host's DNSSEC-validated TLSA records, one
			     "usage selector mtype hex" per line, ""
			     otherwise),
			     u32 nrcpt, nrcpt x (u32 index, str address,
			     str ORCPT: "rfc822;a@b" xtext decoded, "" =
			     none) */
	M_JOB_BODY, /* u64 job, data chunk (<= 64 KiB); none for a job
		       with JOB_F_KEPT */
	M_JOB_END, /* u64 job: body complete, start delivering */
	M_JOB_FORGET, /* u64 qid: drop the body kept for that message */

	/* qmgr -> resolver (private/resolver) */
	M_DNS_QUERY = 90, /* u64 id, u32 qtype (DNS_T_*), u32 flags
			     (DNS_Q_*), str name (a UTF-8 name is asked as
			     its A-label) */
	/* resolver -> qmgr */
	M_DNS_ANSWER, /* u64 id, u32 status (DNS_S_*), u32 ttl,
			     u32 secure (1: DNSSEC-validated, the AD bit
			     of a trusted name server; for a negative
			     answer, validated absence), str error text,
			     u32 n, n x (u32 preference, str data): MX:
			     exchanger name ("" = null MX); A/AAAA:
			     numeric address; TLSA: "usage selector mtype
			     hex"; TXT: the record's strings joined */
	M_STS_QUERY, /* qmgr -> resolver: u64 id, str domain, str known id
			(the cached policy's, "" for none): the domain's
			MTA-STS TXT record, and its policy file over HTTPS
			unless the record's id is the known one */
	M_STS_ANSWER, /* resolver -> qmgr: u64 id, u32 status (STS_S_*),
			 str the record's id, str policy file (STS_S_FETCHED
			 only), str error (why, for STS_S_NONE with a record
			 that is malformed, STS_S_TXT_FAIL, STS_S_FETCH_FAIL,
			 STS_S_WEBPKI_FAIL), u32 ttl of the TXT answer (60 s
			 for a failure) */

	/* control clients (ncctl) -> master (public/control) */
	M_REQ_STATUS = 100, /* (empty) */
	M_REQ_FLUSH, /* u32 n, n x u64 qid */
	M_REQ_STOP, /* (empty) */
	M_REQ_RELOAD, /* (empty) */
	M_REQ_RESOLVER_FLUSH, /* (empty) empty the resolver's cache */
	M_REQ_ADMIN, /* u32 op (ADMIN_*), u32 select (SEL_*), str domain,
			u32 n, n x u64 qid: hold/release/delete/requeue/flush */
	/* ncqshow -> showq (public/showq), for callers that cannot read
	   the queue; answered by M_LIST_ITEM frames then one M_REPLY */
	M_REQ_LIST, /* u32 flags (LIST_F_*), str state, str domain,
		       str sender, u32 n, n x u64 qid */
	M_REQ_METRICS, /* ncctl -> master: (empty): the exposition text
			  (Prometheus 0.0.4), as M_REPLY; any user */
	M_REQ_TLS_REPORT, /* ncctl -> master: u32 flags (TLSRPT_F_*): the
			     TLS reporting counts (RFC 8460) qmgr keeps, as
			     M_REPLY; root and mail_owner only */
	/* master -> control client, showq -> ncqshow */
	M_REPLY = 120, /* u32 code (0 ok), str text */
	M_LIST_ITEM, /* u64 qid, data: the message record (q_msg_encode) */

	/* master -> qmgr: queue administration (after the uid check) */
	M_CTL_ADMIN = 130, /* u64 request, u32 op, u32 select, str domain,
			      u32 n, n x u64 qid */
	/* qmgr -> master */
	M_CTL_ADMIN_DONE, /* u64 request, u32 code, str text ("3 messages
			      put on hold"); also the answer to
			      M_CTL_TLS_REPORT, the report as text */
	/* master -> qmgr */
	M_CTL_TLS_REPORT, /* u64 request, u32 flags (TLSRPT_F_*) */

	/* smtpd <-> pickup (private/pickup) */
	M_INGEST_REQ = 140, /* smtpd -> pickup: u64 request, str the name of
			       a complete spool file in QDIR/incoming, or ""
			       with data: the spool file's content inline
			       (small messages); queue it */
	M_INGEST_DONE, /* pickup -> smtpd: u64 request, u32 code (0: queued,
			  committed; 4: not now, try again; 5: refused),
			  u64 qid (0 unless queued), str text (the reply
			  line for the client, or the queued message's
			  Message-ID: for smtpd's log) */
	M_INGEST_STATE, /* pickup -> smtpd: u32 full (1: the queue is full,
			   refuse at MAIL with 452; 0: room again); sent on
			   connect and on each change */

	/* bounce daemon <-> qmgr (private/qmgr) */
	M_BOUNCE_HELLO = 150, /* u32 pid */
	M_BOUNCE_REQ, /* qmgr -> bounce: u64 request, u64 qid, u32 kind
			  (BOUNCE_K_*), str sender, dbl arrival, str original
			  headers, str ENVID ("" = none), u32 n, n x (str
			  recipient, str ORCPT ("" = none), str status
			  "5.1.1", str action "failed"|"delayed", str
			  remote MTA "" if none, str diagnostic) */
	M_BOUNCE_DONE, /* bounce -> qmgr: u64 request, u32 code (0 queued;
			  BOUNCE_REFUSED: the request can never become a
			  notice; else try later), u64 notice qid (0: none
			  needed), str error */
};

#define JOB_F_8BIT 0x1 /* body has octets > 127: ask for BODY=8BITMIME */
#define JOB_F_KEEP                                                             \
	0x2 /* keep the body for more jobs of the message, until
			  M_JOB_FORGET */
#define JOB_F_KEPT 0x4 /* no body follows: use the one kept for the qid */
#define JOB_F_SMTPUTF8 0x8 /* SMTPUTF8 on MAIL when the server offers it */
#define JOB_F_UTF8ADDR                                                         \
	0x10 /* the job's sender or a recipient holds UTF-8: the server
		must offer SMTPUTF8, else the recipients fail (5.6.7) */

#define SMTP_DONE_REFUSED 9 /* M_SMTP_DONE: the worker refused the job */

#define HOST_F_RELAY 0x1 /* a smart host or fallback relay, not an MX */
#define HOST_F_WRAPPER 0x2 /* implicit TLS from the first byte (port 465) */
#define HOST_F_AUTH 0x4 /* log in (smtp_sasl_auth) when the server offers */
#define HOST_F_AUTH_PLAIN 0x8 /* ... even without TLS */
/* bits 4-6: the TLS level for this host (smtp_tls_security_level);
 * TLS_DANE only with the host's validated TLSA records beside it (qmgr
 * turns "dane" without them into TLS_MAY, RFC 7672 2.2) */
#define HOST_F_TLS_SHIFT 4
#define HOST_F_TLS_MASK (0x7u << HOST_F_TLS_SHIFT)
#define HOST_F_TLS(f) (((f)&HOST_F_TLS_MASK) >> HOST_F_TLS_SHIFT)
/* TLS_STS: an MTA-STS policy in enforce mode, a verified certificate for
 * the exchanger's name required, as TLS_VERIFY; TLS_STS_TESTING: one in
 * testing mode, TLS_MAY with what enforce would have refused logged */
enum tls_level {
	TLS_NONE = 0,
	TLS_MAY,
	TLS_ENCRYPT,
	TLS_VERIFY,
	TLS_DANE,
	TLS_STS,
	TLS_STS_TESTING
};

/* TLS reporting (RFC 8460 4.3): the policy a session ran under, and its
 * result type. TLSRPT_R_* past TLSRPT_R_VALIDATION_FAILURE are failures
 * of the policy itself, counted by qmgr; the others come from workers. */
enum tlsrpt_policy {
	TLSRPT_P_NONE = 0, /* "no-policy-found" */
	TLSRPT_P_STS, /* "sts" */
	TLSRPT_P_TLSA /* "tlsa" */
};
enum tlsrpt_result {
	TLSRPT_R_SUCCESS = 0,
	TLSRPT_R_STARTTLS_NOT_SUPPORTED,
	TLSRPT_R_CERT_HOST_MISMATCH,
	TLSRPT_R_CERT_EXPIRED,
	TLSRPT_R_CERT_NOT_TRUSTED,
	TLSRPT_R_VALIDATION_FAILURE,
	TLSRPT_R_TLSA_INVALID,
	TLSRPT_R_DNSSEC_INVALID,
	TLSRPT_R_DANE_REQUIRED,
	TLSRPT_R_STS_POLICY_FETCH_ERROR,
	TLSRPT_R_STS_POLICY_INVALID,
	TLSRPT_R_STS_WEBPKI_INVALID,
	TLSRPT_R_COUNT
};

/* M_STS_ANSWER status */
enum sts_status {
	STS_S_NONE = 0, /* no STSv1 TXT record (or a malformed one: error) */
	STS_S_SAME = 1, /* the record's id is the known one: not fetched */
	STS_S_FETCHED = 2, /* a new id, and the policy file follows */
	STS_S_TXT_FAIL = 3, /* the TXT lookup failed for now */
	STS_S_FETCH_FAIL = 4, /* a record, but no policy file: error */
	STS_S_WEBPKI_FAIL = 5, /* a record, but the policy host's certificate
				  is not valid for it (RFC 8460
				  "sts-webpki-invalid"): error */
};

#define DNS_T_A 1
#define DNS_T_MX 15
#define DNS_T_AAAA 28
#define DNS_T_TXT 16
#define DNS_T_TLSA 52

/* M_DNS_QUERY flags */
#define DNS_Q_DNSSEC                                                           \
	0x1 /* say whether the answer is DNSSEC-validated: with
			    dns_trust_ad = no the resolver validates it
			    itself (libunbound), else it trusts the AD bit */

enum dns_status {
	DNS_S_OK = 0, /* records follow */
	DNS_S_NXDOMAIN = 1, /* the name does not exist */
	DNS_S_NODATA = 2, /* the name exists, no record of this type */
	DNS_S_TEMPFAIL = 3, /* time-out, SERVFAIL, no server: try later */
	DNS_S_BADNAME = 4, /* a UTF-8 name with no A-label (IDNA 2008):
			      never asked, fails for good */
};

#define NC_BODY_CHUNK (64 * 1024)

/* M_REQ_ADMIN / M_CTL_ADMIN */
enum admin_op {
	ADMIN_HOLD = 1,
	ADMIN_RELEASE,
	ADMIN_DELETE,
	ADMIN_REQUEUE,
	ADMIN_FLUSH
};
#define SEL_IDS 0 /* the listed queue IDs */
#define SEL_ALL 1 /* every message */
#define SEL_DEFERRED 2 /* every deferred message */
#define SEL_DOMAIN 3 /* messages with a recipient in domain */

#define LIST_F_JSON 0x1
#define TLSRPT_F_JSON 0x1 /* M_REQ_TLS_REPORT: an RFC 8460 report body */

enum bounce_kind { BOUNCE_K_FAILURE = 1, BOUNCE_K_DELAY = 2 };
#define BOUNCE_REFUSED 2 /* M_BOUNCE_DONE code: never a notice, drop it */

/*
 * The fields of every message, in wire order: the one declaration that
 * common/ipcmsg.h turns into a struct, an encoder and a decoder per
 * message (struct ipcm_<name>, ipcm_<name>_encode(), ipcm_<name>_get()),
 * so that the two sides of a message cannot disagree about its fields.
 * Field kinds: U32, U64, DBL (double), STR (NUL-terminated text), DATA
 * (octets), LIST(name, record): a u32 count, then that many records,
 * each declared below as IPCR_<RECORD>. The table pairs each message
 * type with its lower-case name and its field list.
 */

/* Records, the elements of a LIST. */
/* clang-format off */
#define IPCR_QID(U32, U64, DBL, STR, DATA, LIST) U64(qid)
#define IPCR_METRIC(U32, U64, DBL, STR, DATA, LIST) U32(id) U64(value)
#define IPCR_JOB_HOST(U32, U64, DBL, STR, DATA, LIST) \
	STR(name) \
	STR(addr) \
	U32(port) \
	U32(flags) \
	STR(nexthop) \
	STR(tlsa)
#define IPCR_JOB_RCPT(U32, U64, DBL, STR, DATA, LIST) \
	U32(index) \
	STR(addr) \
	STR(orcpt)
#define IPCR_DNS_RR(U32, U64, DBL, STR, DATA, LIST) U32(pref) STR(data)
#define IPCR_BOUNCE_RCPT(U32, U64, DBL, STR, DATA, LIST) \
	STR(rcpt) \
	STR(orcpt) \
	STR(status) \
	STR(action) \
	STR(mta) \
	STR(diag)

#define IPC_RECORDS(R) \
	R(QID, qid) \
	R(METRIC, metric) \
	R(JOB_HOST, job_host) \
	R(JOB_RCPT, job_rcpt) \
	R(DNS_RR, dns_rr) \
	R(BOUNCE_RCPT, bounce_rcpt)

/* Messages with fields. */
#define IPCF_CTL_FLUSH(U32, U64, DBL, STR, DATA, LIST) LIST(ids, qid)
#define IPCF_CTL_RELOAD(U32, U64, DBL, STR, DATA, LIST) \
	STR(conf) \
	STR(routes) \
	STR(aliases) \
	STR(generic) \
	STR(myorigin)
#define IPCF_CTL_SECRET(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(found) \
	STR(user) \
	STR(password)
#define IPCF_CTL_METRICS(U32, U64, DBL, STR, DATA, LIST) U64(request) STR(text)
#define IPCF_CHILD_READY(U32, U64, DBL, STR, DATA, LIST) U32(pid)
#define IPCF_CHILD_STATUS(U32, U64, DBL, STR, DATA, LIST) STR(text)
#define IPCF_CHILD_SECRET_REQ(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	STR(host) \
	U32(port)
#define IPCF_CHILD_METRICS(U32, U64, DBL, STR, DATA, LIST) LIST(items, metric)
#define IPCF_CHILD_METRICS_REQ(U32, U64, DBL, STR, DATA, LIST) U64(request)
#define IPCF_PICKUP_HELLO(U32, U64, DBL, STR, DATA, LIST) U32(pid)
#define IPCF_PICKUP_NEW(U32, U64, DBL, STR, DATA, LIST) LIST(ids, qid)
#define IPCF_SMTP_HELLO(U32, U64, DBL, STR, DATA, LIST) \
	U32(pid) \
	U32(max_sessions)
#define IPCF_SMTP_RCPT(U32, U64, DBL, STR, DATA, LIST) \
	U64(job) \
	U32(index) \
	U32(class) \
	STR(dsn) \
	STR(reply) \
	STR(relay)
#define IPCF_SMTP_DONE(U32, U64, DBL, STR, DATA, LIST) \
	U64(job) \
	U32(class) \
	STR(reason)
#define IPCF_SMTP_TLS(U32, U64, DBL, STR, DATA, LIST) \
	U64(job) \
	STR(mx) \
	U32(policy) \
	U32(result)
#define IPCF_JOB_BEGIN(U32, U64, DBL, STR, DATA, LIST) \
	U64(job) \
	U64(qid) \
	STR(sender) \
	U64(size) \
	DBL(arrival) \
	DBL(t_active) \
	DBL(t_handoff) \
	U32(flags) \
	U32(dsn_notify) \
	U32(dsn_ret) \
	STR(envid) \
	LIST(hosts, job_host) \
	LIST(rcpts, job_rcpt)
#define IPCF_JOB_BODY(U32, U64, DBL, STR, DATA, LIST) U64(job) DATA(chunk)
#define IPCF_JOB_END(U32, U64, DBL, STR, DATA, LIST) U64(job)
#define IPCF_JOB_FORGET(U32, U64, DBL, STR, DATA, LIST) U64(qid)
#define IPCF_DNS_QUERY(U32, U64, DBL, STR, DATA, LIST) \
	U64(id) \
	U32(qtype) \
	U32(flags) \
	STR(name)
#define IPCF_DNS_ANSWER(U32, U64, DBL, STR, DATA, LIST) \
	U64(id) \
	U32(status) \
	U32(ttl) \
	U32(secure) \
	STR(error) \
	LIST(rrs, dns_rr)
#define IPCF_STS_QUERY(U32, U64, DBL, STR, DATA, LIST) \
	U64(id) \
	STR(domain) \
	STR(known_id)
#define IPCF_STS_ANSWER(U32, U64, DBL, STR, DATA, LIST) \
	U64(id) \
	U32(status) \
	STR(txt_id) \
	STR(policy) \
	STR(error) \
	U32(ttl)
#define IPCF_REQ_FLUSH(U32, U64, DBL, STR, DATA, LIST) LIST(ids, qid)
#define IPCF_REQ_ADMIN(U32, U64, DBL, STR, DATA, LIST) \
	U32(op) \
	U32(select) \
	STR(domain) \
	LIST(ids, qid)
#define IPCF_REQ_LIST(U32, U64, DBL, STR, DATA, LIST) \
	U32(flags) \
	STR(state) \
	STR(domain) \
	STR(sender) \
	LIST(ids, qid)
#define IPCF_REQ_TLS_REPORT(U32, U64, DBL, STR, DATA, LIST) U32(flags)
#define IPCF_CTL_TLS_REPORT(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(flags)
#define IPCF_REPLY(U32, U64, DBL, STR, DATA, LIST) U32(code) STR(text)
#define IPCF_LIST_ITEM(U32, U64, DBL, STR, DATA, LIST) U64(qid) DATA(record)
#define IPCF_CTL_ADMIN(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(op) \
	U32(select) \
	STR(domain) \
	LIST(ids, qid)
#define IPCF_CTL_ADMIN_DONE(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(code) \
	STR(text)
#define IPCF_INGEST_REQ(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	STR(name) \
	DATA(content)
#define IPCF_INGEST_DONE(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(code) \
	U64(qid) \
	STR(text)
#define IPCF_INGEST_STATE(U32, U64, DBL, STR, DATA, LIST) U32(full)
#define IPCF_BOUNCE_HELLO(U32, U64, DBL, STR, DATA, LIST) U32(pid)
#define IPCF_BOUNCE_REQ(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U64(qid) \
	U32(kind) \
	STR(sender) \
	DBL(arrival) \
	STR(headers) \
	STR(envid) \
	LIST(rcpts, bounce_rcpt)
#define IPCF_BOUNCE_DONE(U32, U64, DBL, STR, DATA, LIST) \
	U64(request) \
	U32(code) \
	U64(qid) \
	STR(error)

#define IPC_MESSAGES(M)                                                        \
	M(CTL_FLUSH, ctl_flush)                                                \
	M(CTL_RELOAD, ctl_reload)                                              \
	M(CTL_SECRET, ctl_secret)                                              \
	M(CTL_METRICS, ctl_metrics)                                            \
	M(CHILD_READY, child_ready)                                            \
	M(CHILD_STATUS, child_status)                                          \
	M(CHILD_SECRET_REQ, child_secret_req)                                  \
	M(CHILD_METRICS, child_metrics)                                        \
	M(CHILD_METRICS_REQ, child_metrics_req)                                \
	M(PICKUP_HELLO, pickup_hello)                                          \
	M(PICKUP_NEW, pickup_new)                                              \
	M(SMTP_HELLO, smtp_hello)                                              \
	M(SMTP_RCPT, smtp_rcpt)                                                \
	M(SMTP_DONE, smtp_done)                                                \
	M(SMTP_TLS, smtp_tls)                                                  \
	M(JOB_BEGIN, job_begin)                                                \
	M(JOB_BODY, job_body)                                                  \
	M(JOB_END, job_end)                                                    \
	M(JOB_FORGET, job_forget)                                              \
	M(DNS_QUERY, dns_query)                                                \
	M(DNS_ANSWER, dns_answer)                                              \
	M(STS_QUERY, sts_query)                                                \
	M(STS_ANSWER, sts_answer)                                              \
	M(REQ_FLUSH, req_flush)                                                \
	M(REQ_ADMIN, req_admin)                                                \
	M(REQ_LIST, req_list)                                                  \
	M(REQ_TLS_REPORT, req_tls_report)                                      \
	M(REPLY, reply)                                                        \
	M(LIST_ITEM, list_item)                                                \
	M(CTL_ADMIN, ctl_admin)                                                \
	M(CTL_ADMIN_DONE, ctl_admin_done)                                      \
	M(CTL_TLS_REPORT, ctl_tls_report)                                      \
	M(INGEST_REQ, ingest_req)                                              \
	M(INGEST_DONE, ingest_done)                                            \
	M(INGEST_STATE, ingest_state)                                          \
	M(BOUNCE_HELLO, bounce_hello)                                          \
	M(BOUNCE_REQ, bounce_req)                                              \
	M(BOUNCE_DONE, bounce_done)

/* Messages without fields. */
#define IPC_EMPTY_MESSAGES(E)                                                  \
	E(CTL_STOP, ctl_stop)                                                  \
	E(CTL_STATUS, ctl_status)                                              \
	E(CTL_DNS_FLUSHED, ctl_dns_flushed)                                    \
	E(REQ_STATUS, req_status)                                              \
	E(REQ_STOP, req_stop)                                                  \
	E(REQ_RELOAD, req_reload)                                              \
	E(REQ_RESOLVER_FLUSH, req_resolver_flush)                              \
	E(REQ_METRICS, req_metrics)
/* clang-format on */

#endif
