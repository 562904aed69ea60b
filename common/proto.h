/*
 * proto.h - every IPC message ncmta's processes exchange, with its fields
 * in order. The table in doc/ipc.md is the readable version of this file;
 * keep the two in step. Field types: u32, u64, dbl (double), str.
 */
#ifndef NCMTA_PROTO_H
#define NCMTA_PROTO_H

enum nc_msgtype {
	/* master -> any child, over the child's control socketpair (fd 3) */
	M_CTL_FLUSH = 1, /* u32 n, n x u64 qid (n == 0: all deferred) */
	M_CTL_RELOAD, /* (empty) re-read configuration */
	M_CTL_STOP, /* (empty) finish in-flight work and exit 0 */
	M_CTL_STATUS, /* (empty) ask for counters */
	/* any child -> master */
	M_CHILD_READY = 20, /* u32 pid */
	M_CHILD_STATUS, /* str "key=value ..." counters */

	/* pickup -> qmgr (private/qmgr) */
	M_PICKUP_HELLO = 40, /* u32 pid */
	M_PICKUP_NEW, /* u32 n, n x u64 qid: committed, ready for qmgr */

	/* smtp worker -> qmgr (private/qmgr) */
	M_SMTP_HELLO = 60, /* u32 pid, u32 max sessions */
	M_SMTP_RCPT, /* u64 job, u32 rcpt index, u32 class (2/4/5),
			      str dsn, str reply text, str relay */
	M_SMTP_DONE, /* u64 job, u32 session class (2/4/5: 4 = the
			      destination failed at session level), str reason */

	/* qmgr -> smtp worker */
	M_JOB_BEGIN = 80, /* u64 job, u64 qid, str sender, u64 size,
			     dbl arrival, dbl t_active, dbl t_handoff,
			     u32 flags (JOB_F_*), u32 nhosts,
			     nhosts x (str name, str addr, u32 port),
			     u32 nrcpt, nrcpt x (u32 index, str address) */
	M_JOB_BODY, /* u64 job, data chunk (<= 64 KiB) */
	M_JOB_END, /* u64 job: body complete, start delivering */

	/* control clients (ncctl) -> master (public/control) */
	M_REQ_STATUS = 100, /* (empty) */
	M_REQ_FLUSH, /* u32 n, n x u64 qid */
	M_REQ_STOP, /* (empty) */
	M_REQ_RELOAD, /* (empty) */
	/* master -> control client */
	M_REPLY = 120, /* u32 code (0 ok), str text */
};

#define JOB_F_8BIT 0x1 /* body has octets > 127: ask for BODY=8BITMIME */

#define NC_BODY_CHUNK (64 * 1024)

#endif
