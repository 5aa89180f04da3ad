-- chapter_daily: per chapter and UTC day (SPEC §5); chapters come from the catalog.
-- Grain: chapter (video_id, chapter_index in the catalog's list) x UTC day; partition day.
-- Every chapter of every video viewed that day has a row.
-- views_reaching  views that played some of the chapter ([start_s, end_s), positive length)
-- watch_time_s    wall-clock seconds spent playing inside the chapter: media seconds played in
--                 it, scaled by the view's watch_time_s / played_s
-- drop_off        views whose furthest played point lies in the chapter (start_s, end_s] and
--                 that did not complete: the viewers this chapter lost
-- drop_off_rate   drop_off / views_reaching
-- Inputs: views, catalog. Variables: day (DATE).
WITH chapters AS (
    SELECT
        video_id,
        generate_subscripts(chapters, 1) - 1 AS chapter_index,
        unnest(chapters) AS ch
    FROM catalog
    WHERE len(chapters) > 0
),
v AS (
    SELECT
        video_id,
        session_key,
        completed,
        played_intervals,
        coalesce(watch_time_s / nullif(played_s, 0), 0) AS wall_per_media_s,
        coalesce(list_max(list_transform(played_intervals, lambda i: i.end_s)), 0) AS furthest_s
    FROM views
    WHERE day = getvariable('day') AND video_id IN (SELECT video_id FROM chapters)
),
per_view AS (
    SELECT
        c.video_id,
        c.chapter_index,
        c.ch.title AS title,
        c.ch.start_s AS start_s,
        c.ch.end_s AS end_s,
        v.completed,
        v.furthest_s,
        v.wall_per_media_s,
        coalesce(list_sum(list_transform(
            v.played_intervals,
            lambda i: greatest(0, least(i.end_s, c.ch.end_s) - greatest(i.start_s, c.ch.start_s))
        )), 0) AS media_s
    FROM v
    JOIN chapters c ON c.video_id = v.video_id
)
SELECT
    video_id,
    chapter_index,
    any_value(title) AS title,
    any_value(start_s) AS start_s,
    any_value(end_s) AS end_s,
    count(*) FILTER (WHERE media_s > 0) AS views_reaching,
    sum((media_s * wall_per_media_s)::DECIMAL(18, 3)) AS watch_time_s,
    count(*) FILTER (WHERE NOT completed AND furthest_s > start_s AND furthest_s <= end_s)
        AS drop_off,
    drop_off / nullif(views_reaching, 0) AS drop_off_rate,
    getvariable('day') AS day
FROM per_view
GROUP BY video_id, chapter_index
