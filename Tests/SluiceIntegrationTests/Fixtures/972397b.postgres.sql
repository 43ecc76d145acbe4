--
-- PostgreSQL database dump
--


-- Dumped from database version 18.6
-- Dumped by pg_dump version 18.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: vector; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;


--
-- Name: EXTENSION vector; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


--
-- Name: job_queue_count_statement(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.job_queue_count_statement() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM job_queue_counts;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
        SELECT job_type, status, pg_backend_pid(), count(*) FROM new_rows GROUP BY job_type, status
        ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
    ELSE
        INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
        SELECT job_type, status, pg_backend_pid(), -count(*) FROM old_rows GROUP BY job_type, status
        ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: job_queue_count_update_statement(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.job_queue_count_update_statement() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
    SELECT job_type, status, pg_backend_pid(), sum(change) FROM (
        SELECT job_type, status, 1 AS change FROM new_rows
        UNION ALL
        SELECT job_type, status, -1 FROM old_rows
    ) AS changes
    GROUP BY job_type, status HAVING sum(change) <> 0
    ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
    RETURN NULL;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: ingest_chunks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingest_chunks (
    ingest_job_id text NOT NULL,
    chunk_index integer NOT NULL,
    processed integer DEFAULT 0 NOT NULL,
    saved integer DEFAULT 0 NOT NULL,
    skipped integer DEFAULT 0 NOT NULL,
    done boolean DEFAULT false NOT NULL
);


--
-- Name: ingest_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingest_jobs (
    id text NOT NULL,
    project_id text NOT NULL,
    status text NOT NULL,
    total integer NOT NULL,
    processed integer DEFAULT 0 NOT NULL,
    saved integer DEFAULT 0 NOT NULL,
    skipped integer DEFAULT 0 NOT NULL,
    error text,
    created_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    CONSTRAINT ingest_jobs_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text, 'COMPLETED'::text, 'FAILED'::text])))
);


--
-- Name: job_queue; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_queue (
    id text NOT NULL,
    job_type text NOT NULL,
    status text DEFAULT 'PENDING'::text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 3 NOT NULL,
    payload jsonb,
    result jsonb,
    progress jsonb,
    errors jsonb DEFAULT '[]'::jsonb NOT NULL,
    unique_key text,
    lease_owner text,
    lease_expires_at timestamp with time zone,
    scheduled_for timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    CONSTRAINT job_queue_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text, 'COMPLETED'::text, 'FAILED'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_analyze_scale_factor='0.02');


--
-- Name: job_queue_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_queue_counts (
    job_type text NOT NULL,
    status text NOT NULL,
    slot integer NOT NULL,
    n bigint NOT NULL
);


--
-- Name: projects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.projects (
    id text NOT NULL,
    name text NOT NULL,
    embedding_model text,
    embedding_dimensions integer,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.records (
    id text NOT NULL,
    project_id text NOT NULL,
    external_id text,
    text text NOT NULL,
    data jsonb NOT NULL,
    content_hash text NOT NULL,
    embedding_model text,
    embedded_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    embedding public.vector
);


--
-- Name: sluice_key_locks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sluice_key_locks (
    key text NOT NULL,
    owner text NOT NULL,
    expires_at timestamp with time zone NOT NULL
);


--
-- Name: sluice_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sluice_migrations (
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: sluice_scheduled_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sluice_scheduled_runs (
    name text NOT NULL,
    slot timestamp with time zone NOT NULL,
    owner text NOT NULL,
    claimed_at timestamp with time zone NOT NULL
);


--
-- Name: sluice_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sluice_sessions (
    token_hash text NOT NULL,
    user_id text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL
);


--
-- Name: sluice_users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sluice_users (
    id text NOT NULL,
    email text NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT sluice_users_role_check CHECK ((role = ANY (ARRAY['VIEWER'::text, 'MANAGER'::text, 'ADMIN'::text])))
);


--
-- Data for Name: ingest_chunks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ingest_chunks VALUES ('875f4da4-a8ef-49f6-8252-714d2deb3ff5', 0, 2, 2, 0, true);


--
-- Data for Name: ingest_jobs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ingest_jobs VALUES ('875f4da4-a8ef-49f6-8252-714d2deb3ff5', 'b6486f8c-9a52-4f74-ab8b-e925398abd28', 'COMPLETED', 2, 2, 2, 0, NULL, '2026-12-01 17:50:01.970779+00', '2026-12-01 17:50:02.221066+00', '2026-12-01 17:50:02.228329+00');


--
-- Data for Name: job_queue; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.job_queue VALUES ('01a232ba-5564-73f6-a015-ebaed931c836', 'INGEST_DATA', 'PENDING', 0, 0, 3, '{}', NULL, NULL, '[]', NULL, NULL, NULL, '2026-12-02 17:50:02.013523+00', '2026-12-01 17:50:02.084388+00', NULL, NULL);
INSERT INTO public.job_queue VALUES ('01a232ba-54f9-7a47-ba23-d42cb4af32e2', 'INGEST_DATA', 'COMPLETED', 0, 1, 3, NULL, '{"chunk": 0, "skipped": [], "savedCount": 2, "ingestJobId": "875f4da4-a8ef-49f6-8252-714d2deb3ff5", "skippedCount": 0, "vectorizeJobId": "01a232ba-55f9-7b4e-8c5f-10eeb84ade74"}', '{"total": 2, "current": 2, "message": "stored 2 of 2 records"}', '[]', NULL, NULL, NULL, '2026-12-01 17:50:01.977288+00', '2026-12-01 17:50:01.977288+00', '2026-12-01 17:50:02.212494+00', '2026-12-01 17:50:02.236763+00');
INSERT INTO public.job_queue VALUES ('01a232ba-55f9-7b4e-8c5f-10eeb84ade74', 'VECTORIZE', 'COMPLETED', 0, 1, 3, NULL, '{"model": "sluice-local-hash-v1", "projectId": "b6486f8c-9a52-4f74-ab8b-e925398abd28", "embeddedCount": 2, "moreRemaining": false, "truncatedCount": 0}', '{"total": 2, "current": 2, "message": "embedded 2 of 2 records"}', '[]', 'vectorize:b6486f8c-9a52-4f74-ab8b-e925398abd28', NULL, NULL, '2026-12-01 17:50:02.233825+00', '2026-12-01 17:50:02.233825+00', '2026-12-01 17:50:02.242438+00', '2026-12-01 17:50:02.256641+00');


--
-- Data for Name: job_queue_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'PENDING', 22066, 1);
INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'PENDING', 22075, 1);
INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'PROCESSING', 22085, 1);
INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'PENDING', 22085, -1);
INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'PROCESSING', 22086, -1);
INSERT INTO public.job_queue_counts VALUES ('INGEST_DATA', 'COMPLETED', 22086, 1);
INSERT INTO public.job_queue_counts VALUES ('VECTORIZE', 'PENDING', 22085, 0);
INSERT INTO public.job_queue_counts VALUES ('VECTORIZE', 'PROCESSING', 22085, 0);
INSERT INTO public.job_queue_counts VALUES ('VECTORIZE', 'COMPLETED', 22085, 1);


--
-- Data for Name: projects; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.projects VALUES ('b6486f8c-9a52-4f74-ab8b-e925398abd28', 'docs', 'sluice-local-hash-v1', 1536, '2026-12-01 17:50:01.742776+00');


--
-- Data for Name: records; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.records VALUES ('01a232ba-55f0-775c-bb9f-e0978c926526', 'b6486f8c-9a52-4f74-ab8b-e925398abd28', 'b', 'stocks fell sharply', '{"id": "b", "text": "stocks fell sharply"}', '89a48af37fce7d1268665e666357be7967fa1d137a5d038e0569b057438cfa9c', 'sluice-local-hash-v1', '2026-12-01 17:50:02.249921+00', '2026-12-01 17:50:02.224725+00', '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.4472136,0,0,0,0,0,0.4472136,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-0.4472136,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.4472136,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.4472136,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');
INSERT INTO public.records VALUES ('01a232ba-55f0-76db-9a69-971d06d6ba0b', 'b6486f8c-9a52-4f74-ab8b-e925398abd28', 'a', 'a cat sat on the mat', '{"id": "a", "text": "a cat sat on the mat"}', 'e309418c920649b75098a17bb30bf2029c9d1aa235c4eb058f549643c6361716', 'sluice-local-hash-v1', '2026-12-01 17:50:02.249921+00', '2026-12-01 17:50:02.224725+00', '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,-0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,-0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0.30151135,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');


--
-- Data for Name: sluice_key_locks; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: sluice_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sluice_migrations VALUES ('20261129000000_create_job_queue', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129100000_create_accounts', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129100100_create_scheduled_runs', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129100200_index_jobs_by_status_and_age', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129100300_create_key_locks', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129110000_create_projects_and_records', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20260206000000_enable_pgvector_and_fix_embedding_type', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129120000_count_jobs_by_type_and_state', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129120100_drop_job_queue_status_type_idx', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129120200_count_state_changes_per_statement', '2026-12-01 17:50:01.179758+00');
INSERT INTO public.sluice_migrations VALUES ('20261129130000_vacuum_job_queue_sooner', '2026-12-01 17:50:01.179758+00');


--
-- Data for Name: sluice_scheduled_runs; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: sluice_sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: sluice_users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sluice_users VALUES ('39a52599-8dc8-4d49-b714-1b3ba3d22763', 'admin@example.com', 'ADMIN', '$2b$12$5Gy6r44VY08KKRTXlz.cm.aOfVfpox9n48XWV9hf5CR5apTxtUbrS', '2026-12-01 17:50:01.702184+00');


--
-- Name: ingest_chunks ingest_chunks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_chunks
    ADD CONSTRAINT ingest_chunks_pkey PRIMARY KEY (ingest_job_id, chunk_index);


--
-- Name: ingest_jobs ingest_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_jobs
    ADD CONSTRAINT ingest_jobs_pkey PRIMARY KEY (id);


--
-- Name: job_queue_counts job_queue_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_queue_counts
    ADD CONSTRAINT job_queue_counts_pkey PRIMARY KEY (job_type, status, slot);


--
-- Name: job_queue job_queue_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_queue
    ADD CONSTRAINT job_queue_pkey PRIMARY KEY (id);


--
-- Name: projects projects_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_name_key UNIQUE (name);


--
-- Name: projects projects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (id);


--
-- Name: records records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.records
    ADD CONSTRAINT records_pkey PRIMARY KEY (id);


--
-- Name: records records_project_id_content_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.records
    ADD CONSTRAINT records_project_id_content_hash_key UNIQUE (project_id, content_hash);


--
-- Name: sluice_key_locks sluice_key_locks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_key_locks
    ADD CONSTRAINT sluice_key_locks_pkey PRIMARY KEY (key);


--
-- Name: sluice_migrations sluice_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_migrations
    ADD CONSTRAINT sluice_migrations_pkey PRIMARY KEY (name);


--
-- Name: sluice_scheduled_runs sluice_scheduled_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_scheduled_runs
    ADD CONSTRAINT sluice_scheduled_runs_pkey PRIMARY KEY (name, slot);


--
-- Name: sluice_sessions sluice_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_sessions
    ADD CONSTRAINT sluice_sessions_pkey PRIMARY KEY (token_hash);


--
-- Name: sluice_users sluice_users_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_users
    ADD CONSTRAINT sluice_users_email_key UNIQUE (email);


--
-- Name: sluice_users sluice_users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_users
    ADD CONSTRAINT sluice_users_pkey PRIMARY KEY (id);


--
-- Name: ingest_jobs_project_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ingest_jobs_project_idx ON public.ingest_jobs USING btree (project_id, created_at);


--
-- Name: job_queue_claim_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_queue_claim_idx ON public.job_queue USING btree (job_type, priority DESC, scheduled_for, created_at) WHERE (status = 'PENDING'::text);


--
-- Name: job_queue_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_queue_created_idx ON public.job_queue USING btree (created_at DESC, id DESC);


--
-- Name: job_queue_finished_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_queue_finished_idx ON public.job_queue USING btree (completed_at) WHERE (status = ANY (ARRAY['COMPLETED'::text, 'FAILED'::text]));


--
-- Name: job_queue_lease_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_queue_lease_idx ON public.job_queue USING btree (lease_expires_at) WHERE (status = 'PROCESSING'::text);


--
-- Name: job_queue_status_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX job_queue_status_created_idx ON public.job_queue USING btree (status, created_at, id);


--
-- Name: job_queue_unique_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX job_queue_unique_key_idx ON public.job_queue USING btree (job_type, unique_key) WHERE ((unique_key IS NOT NULL) AND (status = ANY (ARRAY['PENDING'::text, 'PROCESSING'::text])));


--
-- Name: records_unembedded_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX records_unembedded_idx ON public.records USING btree (project_id, created_at) WHERE (embedded_at IS NULL);


--
-- Name: sluice_sessions_expires_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sluice_sessions_expires_idx ON public.sluice_sessions USING btree (expires_at);


--
-- Name: sluice_sessions_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sluice_sessions_user_idx ON public.sluice_sessions USING btree (user_id);


--
-- Name: job_queue job_queue_count_deletes; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_queue_count_deletes AFTER DELETE ON public.job_queue REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.job_queue_count_statement();


--
-- Name: job_queue job_queue_count_inserts; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_queue_count_inserts AFTER INSERT ON public.job_queue REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.job_queue_count_statement();


--
-- Name: job_queue job_queue_count_truncates; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_queue_count_truncates AFTER TRUNCATE ON public.job_queue FOR EACH STATEMENT EXECUTE FUNCTION public.job_queue_count_statement();


--
-- Name: job_queue job_queue_count_updates; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_queue_count_updates AFTER UPDATE ON public.job_queue REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.job_queue_count_update_statement();


--
-- Name: ingest_chunks ingest_chunks_ingest_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_chunks
    ADD CONSTRAINT ingest_chunks_ingest_job_id_fkey FOREIGN KEY (ingest_job_id) REFERENCES public.ingest_jobs(id) ON DELETE CASCADE;


--
-- Name: ingest_jobs ingest_jobs_project_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_jobs
    ADD CONSTRAINT ingest_jobs_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE CASCADE;


--
-- Name: records records_project_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.records
    ADD CONSTRAINT records_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE CASCADE;


--
-- Name: sluice_sessions sluice_sessions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sluice_sessions
    ADD CONSTRAINT sluice_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.sluice_users(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


