create table things (id text primary key, made_at timestamptz not null default now());
create table seen (id text primary key);
