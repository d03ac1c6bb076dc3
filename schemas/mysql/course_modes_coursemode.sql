-- course_modes_coursemode: final state after edX course_modes migrations 0001..0016
-- (common/djangoapps/course_modes/migrations in openedx/edx-platform). See README.md in this folder.
--
-- No foreign keys: `course` is ForeignKey(CourseOverview, db_constraint=False) since 0008.
-- It can be created in any order.

CREATE TABLE IF NOT EXISTS `course_modes_coursemode` (
  -- 0001_initial CreateModel CourseMode, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  -- CourseKeyField(max_length=255, db_index=True); 0008_course_key_field_to_foreign_key pinned
  -- db_column='course_id' and renamed the field to `course` (ForeignKey, db_constraint=False): no SQL
  `course_id` varchar(255) NOT NULL,
  `mode_slug` varchar(100) NOT NULL,             -- CharField(max_length=100), e.g. 'audit', 'verified'
  `mode_display_name` varchar(255) NOT NULL,     -- CharField(max_length=255)
  `min_price` int NOT NULL,                      -- IntegerField(default=0)
  `currency` varchar(8) NOT NULL,                -- CharField(max_length=8, default='usd'), lower-cased by save()
  -- field `_expiration_datetime` = DateTimeField(null=True, db_column='expiration_datetime')
  -- (0005_auto_20151217_0958 renamed the field in state only); the upgrade deadline
  `expiration_datetime` datetime(6) DEFAULT NULL,
  `expiration_date` date DEFAULT NULL,           -- DateField(null=True), deprecated
  -- CommaSeparatedIntegerField(max_length=255, default=''); 0009 -> CharField with a validator (no SQL)
  `suggested_prices` varchar(255) NOT NULL,
  `description` longtext DEFAULT NULL,           -- TextField(null=True, blank=True)
  `sku` varchar(255) DEFAULT NULL,               -- CharField(max_length=255, null=True)
  -- 0002_coursemode_expiration_datetime_is_explicit AddField (appended); default True, then 0003 False
  `expiration_datetime_is_explicit` tinyint(1) NOT NULL,
  -- 0007_coursemode_bulk_sku AddField (appended)
  `bulk_sku` varchar(255) DEFAULT NULL,          -- CharField(max_length=255, null=True, default=None)
  -- 0014_auto_20230207_1212 AddField android_sku, then ios_sku (appended)
  `android_sku` varchar(255) DEFAULT NULL,       -- CharField(max_length=255, null=True)
  `ios_sku` varchar(255) DEFAULT NULL,           -- CharField(max_length=255, null=True)
  PRIMARY KEY (`id`),
  -- unique_together (course_id, mode_slug, currency) from 0001 (0008 changed it in Django state only);
  -- Django's name is hashed, this one is descriptive
  UNIQUE KEY `course_modes_cm_course_id_mode_slug_currency_uniq` (`course_id`, `mode_slug`, `currency`),
  -- db_index=True on course_id; Django's name is hashed, this one is descriptive
  KEY `course_modes_cm_course_id_idx` (`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
