-- course_progress: per student and course (SPEC §5), from the catalog's course structure and the
-- `started` / `completed` watch milestones.
-- Grain: student (user) x course; unpartitioned; recomputed whole.
-- A student is a user with a started or completed milestone on a lesson of the course.
-- Lessons are catalog videos with a course_id; a lesson is required unless required = false.
-- lessons_completed  required lessons with a `completed` milestone (any cycle); marking a lesson
--                    watched by hand does not complete it
-- progress           lessons_completed / required_lessons (NULL if the course requires none)
-- modules            per module: required lessons, completed ones, and whether all are done
-- completed_at       when the last required lesson was first completed, once all are
-- creator_id         the creator of the course's lessons (the most common, ties by id)
-- Inputs: milestones, catalog.
WITH lessons AS (
    SELECT video_id, course_id, module_id, coalesce(required, true) AS required, creator_id
    FROM catalog
    WHERE course_id IS NOT NULL
),
m AS (
    SELECT user_id, video_id, milestone, ts
    FROM milestones
    WHERE milestone IN ('started', 'completed')
      AND video_id IN (SELECT video_id FROM lessons)
),
done AS (
    SELECT user_id, video_id, min(ts) AS first_completed_at
    FROM m
    WHERE milestone = 'completed'
    GROUP BY user_id, video_id
),
students AS (
    SELECT m.user_id, l.course_id, min(m.ts) AS started_at, max(m.ts) AS last_activity_at
    FROM m
    JOIN lessons l USING (video_id)
    GROUP BY m.user_id, l.course_id
),
module_lessons AS (
    -- every module of every course, with its required lessons (a property of the course)
    SELECT course_id, module_id, count(*) FILTER (WHERE required) AS lessons_required
    FROM lessons
    GROUP BY course_id, module_id
),
module_done AS (
    -- per student and module: required lessons completed, and when the last one first was
    SELECT
        d.user_id,
        l.course_id,
        l.module_id,
        count(*) AS lessons_completed,
        max(d.first_completed_at) AS last_completed_at
    FROM done d
    JOIN lessons l USING (video_id)
    WHERE l.required
    GROUP BY d.user_id, l.course_id, l.module_id
),
course_modules AS (
    -- per course: its required lessons, its modules that require any, and the module list of a
    -- student who completed none of its lessons yet (most students): ordered by module_id, NULL
    -- first (module ids are unique within a course); sorting each small list afterwards is much
    -- cheaper than an ordered aggregate
    SELECT
        course_id,
        sum(lessons_required) AS required_lessons,
        count(*) FILTER (WHERE lessons_required > 0) AS modules_total,
        list_transform(list_sort(list({
            'has_id': module_id IS NOT NULL,
            'm': struct_pack(
                module_id := module_id,
                lessons_required := lessons_required,
                lessons_completed := 0::BIGINT,
                completed := false
            )
        })), lambda x: x.m) AS modules
    FROM module_lessons
    GROUP BY course_id
),
progressed AS (
    -- the students who completed a required lesson of the course: only they need their own list
    SELECT DISTINCT user_id, course_id FROM module_done
),
per_module AS (
    -- progressed students x modules (not x lessons): a row per module of each one's course
    SELECT
        p.user_id,
        p.course_id,
        ml.module_id,
        ml.lessons_required,
        coalesce(md.lessons_completed, 0) AS lessons_completed,
        md.last_completed_at
    FROM progressed p
    JOIN module_lessons ml USING (course_id)
    LEFT JOIN module_done md
        ON md.user_id = p.user_id
        AND md.course_id = p.course_id
        AND md.module_id IS NOT DISTINCT FROM ml.module_id
),
per_course AS (
    SELECT
        user_id,
        course_id,
        sum(lessons_required) AS required_lessons,
        sum(lessons_completed) AS lessons_completed,
        count(*) FILTER (WHERE lessons_required > 0) AS modules_total,
        count(*) FILTER (WHERE lessons_required > 0 AND lessons_completed = lessons_required)
            AS modules_completed,
        -- in the same order as course_modules.modules
        list_transform(list_sort(list({
            'has_id': module_id IS NOT NULL,
            'm': struct_pack(
                module_id := module_id,
                lessons_required := lessons_required,
                lessons_completed := lessons_completed,
                completed := lessons_required > 0 AND lessons_completed = lessons_required
            )
        })), lambda x: x.m) AS modules,
        max(last_completed_at) AS last_completed_at
    FROM per_module
    GROUP BY user_id, course_id
    UNION ALL BY NAME
    -- the other students: their course's list as it is, nothing completed
    SELECT
        s.user_id,
        s.course_id,
        cm.required_lessons,
        0 AS lessons_completed,
        cm.modules_total,
        0 AS modules_completed,
        cm.modules,
        NULL AS last_completed_at
    FROM students s
    JOIN course_modules cm USING (course_id)
    ANTI JOIN progressed p ON p.user_id = s.user_id AND p.course_id = s.course_id
),
owners AS (
    SELECT course_id, creator_id
    FROM (SELECT course_id, creator_id, count(*) AS n FROM lessons GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY course_id ORDER BY n DESC, creator_id NULLS LAST) = 1
)
SELECT
    c.user_id,
    c.course_id,
    o.creator_id,
    c.required_lessons,
    c.lessons_completed,
    c.lessons_completed / nullif(c.required_lessons, 0) AS progress,
    c.modules_total,
    c.modules_completed,
    c.modules,
    c.required_lessons > 0 AND c.lessons_completed = c.required_lessons AS completed,
    CASE WHEN c.required_lessons > 0 AND c.lessons_completed = c.required_lessons
        THEN c.last_completed_at END AS completed_at,
    s.started_at,
    s.last_activity_at
FROM per_course c
JOIN students s USING (user_id, course_id)
LEFT JOIN owners o USING (course_id)
